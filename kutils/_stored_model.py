"""Reads a saved Keras model's structure from the file itself, without Keras.

Used by `kutils summary` and `kutils plot` when today's Keras cannot load a
file (a Keras 2.x `.h5` with a layer Keras 3 dropped, a custom class that is
not at hand, Lambda bytecode from another Python): the layer list, classes,
connections and recorded shapes come from the stored model configuration
(the `model_config` attribute of an `.h5`, `config.json` inside a `.keras`),
the parameter counts from the stored weight arrays. Nothing from the file is
ever executed here: the configuration is parsed as JSON and the weights are
only looked at for their shapes.

The stored formats are documented by the code that writes them:
https://github.com/keras-team/keras/blob/2.2.4/keras/engine/saving.py (Keras 2
`.h5`) and https://github.com/keras-team/keras/blob/master/keras/src/saving/saving_lib.py
(Keras 3 `.keras`).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from .errors import StoredModelError

__all__ = ["StoredLayer", "StoredModel", "StoredModelError", "read_stored_model"]

_NON_TRAINABLE_WEIGHTS = ("moving_mean", "moving_variance")
_MODEL_CLASSES = ("Sequential", "Model", "Functional")


# Layer name -> its stored weights as (weight name, shape, trains by its name).
_Shapes = dict[str, list[tuple[str, tuple[int, ...], bool]]]


@dataclass
class StoredLayer:
    """One layer as the file describes it.

    Attributes:
        name: The layer name.
        class_name: The class name recorded in the file.
        inbound: Per call of the layer (node), its inputs as
            `(layer_name, node_index, tensor_index)`.
        output_shape: The output shape recorded in the file (input layers),
            or None when the file does not record it.
        weight_shapes: The shapes of the stored weight arrays.
        non_trainable_shapes: The shapes of the stored weights that do not
            train (a frozen layer's, batch normalization statistics).
        nested: The layers of a nested model, in order (empty for others).
        config: The layer's stored configuration (JSON data, never code run).
        batch_input_shape: The input shape the layer's configuration records
            (a model's first layer in Keras 2), or None.
    """

    name: str
    class_name: str
    inbound: list[list[tuple[str, int, int]]] = field(default_factory=list)
    output_shape: tuple[int | None, ...] | None = None
    weight_shapes: list[tuple[int, ...]] = field(default_factory=list)
    non_trainable_shapes: list[tuple[int, ...]] = field(default_factory=list)
    nested: list[StoredLayer] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    batch_input_shape: tuple[int | None, ...] | None = None

    @property
    def param_count(self) -> int:
        """Scalars in the layer's stored weights."""
        return sum(math.prod(shape) for shape in self.weight_shapes)


@dataclass
class StoredModel:
    """A model as its file describes it.

    Attributes:
        name: The model name.
        class_name: `Sequential`, `Model`/`Functional`, or a subclass name.
        layers: The layers, in order.
        keras_version: The Keras version that wrote the file ("" if absent).
        param_dtypes: Bytes of stored weights per dtype name.
    """

    name: str
    class_name: str
    layers: list[StoredLayer]
    keras_version: str = ""
    param_dtypes: dict[str, int] = field(default_factory=dict)

    @property
    def is_sequential(self) -> bool:
        """Whether the model is a `Sequential` (three summary columns)."""
        return self.class_name == "Sequential"

    def walk(self) -> Iterator[tuple[StoredLayer, int]]:
        """Yields `(layer, depth)` for every layer, nested models' layers after their model."""

        def visit(layers: list[StoredLayer], depth: int) -> Iterator[tuple[StoredLayer, int]]:
            for layer in layers:
                yield layer, depth
                yield from visit(layer.nested, depth + 1)

        yield from visit(self.layers, 0)


def read_stored_model(path: str | os.PathLike[str]) -> StoredModel:
    """Reads the structure and weight shapes of a saved Keras model, without Keras.

    Args:
        path: A Keras `.h5` file (Keras 1/2, tf_keras or Keras 3 legacy
            format) or a Keras 3 `.keras` archive.

    Returns:
        A `StoredModel`.

    Raises:
        StoredModelError: (a `ValueError`) if the file holds no model
            configuration (weights-only files, other HDF5 files).
        OSError: If the file cannot be read.

    Example:

    ```python
    model = read_stored_model("legacy_model.h5")
    print([(layer.name, layer.class_name, layer.param_count) for layer in model.layers])
    ```
    """
    path = os.fspath(path)
    if zipfile.is_zipfile(path):
        return _read_keras_archive(path)
    with h5py.File(path, "r") as file:
        config_text = file.attrs.get("model_config")
        if config_text is None:
            raise StoredModelError(
                f"{path!r} holds no model configuration (no 'model_config' attribute): it is not a "
                "whole saved Keras model (weights-only files, from save_weights, have none)."
            )
        config = _parse_json(path, config_text)
        version = _text(file.attrs.get("keras_version", ""))
        weights = file.get("model_weights", file)
        shapes = _h5_weight_shapes(weights)
        dtypes = _h5_weight_dtypes(weights)
    return _build(config, shapes, version, dtypes)


def _read_keras_archive(path: str) -> StoredModel:
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if "config.json" not in names:
            raise StoredModelError(f"{path!r} is a zip archive without config.json: not a .keras model file.")
        config = _parse_json(path, archive.read("config.json"))
        version = ""
        if "metadata.json" in names:
            version = str(_parse_json(path, archive.read("metadata.json")).get("keras_version", ""))
        shapes: _Shapes = {}
        dtypes: dict[str, int] = {}
        if "model.weights.h5" in names:
            with archive.open("model.weights.h5") as raw, h5py.File(raw, "r") as weights:
                shapes = _archive_weight_shapes(weights)
                dtypes = _h5_weight_dtypes(weights)
    return _build(config, shapes, version, dtypes)


def _parse_json(path: str, raw: Any) -> dict[str, Any]:
    try:
        value = json.loads(_text(raw))
    except (ValueError, UnicodeDecodeError) as error:
        raise StoredModelError(
            f"{path!r}: the stored model configuration is not valid JSON ({error})."
        ) from None
    if not isinstance(value, dict):
        raise StoredModelError(f"{path!r}: the stored model configuration is not a JSON object.")
    return value


def _text(raw: Any) -> str:
    return raw.decode("utf-8") if isinstance(raw, bytes | np.bytes_) else str(raw)


def _h5_weight_shapes(group: h5py.Group) -> _Shapes:
    """Layer name -> [(shape, trainable-by-name)] from a Keras 1/2 weights group (`layer_names`)."""
    shapes: _Shapes = {}
    for layer_name in (_text(name) for name in group.attrs.get("layer_names", ())):
        layer_group = group.get(layer_name)
        if not isinstance(layer_group, h5py.Group):
            continue
        entries = []
        for weight_name in (_text(name) for name in layer_group.attrs.get("weight_names", ())):
            dataset = layer_group.get(weight_name)
            if isinstance(dataset, h5py.Dataset):
                shape = tuple(int(dim) for dim in dataset.shape)
                entries.append((weight_name, shape, _trains_by_name(weight_name)))
        shapes[layer_name] = entries
    return shapes


def _archive_weight_shapes(group: h5py.Group) -> _Shapes:
    """Layer name -> [(shape, trainable-by-name)] from a `.keras` archive's `layers/<name>/vars/<i>`."""
    shapes: _Shapes = {}
    layers = group.get("layers")
    if not isinstance(layers, h5py.Group):
        return shapes

    def visit(name: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset) and "/vars/" in f"/{name}":
            layer_name = name.split("/", 1)[0]
            shapes.setdefault(layer_name, []).append((name, tuple(int(dim) for dim in item.shape), True))

    layers.visititems(visit)
    return shapes


def _h5_weight_dtypes(group: h5py.Group) -> dict[str, int]:
    totals: dict[str, int] = {}

    def visit(_: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset) and item.dtype.kind in "biuf":
            totals[item.dtype.name] = totals.get(item.dtype.name, 0) + int(item.size) * item.dtype.itemsize

    group.visititems(visit)
    return totals


def _trains_by_name(weight_name: str) -> bool:
    return not any(marker in weight_name for marker in _NON_TRAINABLE_WEIGHTS)


def _build(
    config: dict[str, Any],
    shapes: _Shapes,
    version: str,
    dtypes: dict[str, int],
) -> StoredModel:
    class_name = str(config.get("class_name", "Model"))
    inner = config.get("config", {})
    layers_config = inner if isinstance(inner, list) else inner.get("layers", [])  # Keras <= 2.1 Sequential
    name = "sequential" if isinstance(inner, list) else str(inner.get("name", class_name.lower()))
    layers = [_layer(entry, shapes) for entry in layers_config]
    if class_name == "Sequential":  # its input layer is no layer of it (Keras 2.2.4 and 3 alike)
        layers = [layer for layer in layers if layer.class_name != "InputLayer"]
        _chain_sequential(layers)
    return StoredModel(
        name=name, class_name=class_name, layers=layers, keras_version=version, param_dtypes=dtypes
    )


def _layer(entry: dict[str, Any], shapes: _Shapes) -> StoredLayer:
    layer_config = entry.get("config", {}) or {}
    config_name = layer_config.get("name") if isinstance(layer_config, dict) else None
    name = str(entry.get("name") or config_name or entry.get("class_name", "?"))
    layer = StoredLayer(name=name, class_name=str(entry.get("class_name", "?")))
    layer.inbound = [_node_inputs(node) for node in entry.get("inbound_nodes", []) or []]
    if isinstance(layer_config, dict):
        layer.config = layer_config
        recorded = layer_config.get("batch_input_shape") or layer_config.get("batch_shape")
        if recorded is not None:
            layer.batch_input_shape = tuple(None if dim is None else int(dim) for dim in recorded)
            if layer.class_name == "InputLayer":
                layer.output_shape = layer.batch_input_shape
    trainable = bool(layer_config.get("trainable", True)) if isinstance(layer_config, dict) else True
    for _, shape, trains in shapes.get(name, []):
        layer.weight_shapes.append(shape)
        if not (trainable and trains):
            layer.non_trainable_shapes.append(shape)
    if entry.get("class_name") in _MODEL_CLASSES and isinstance(layer_config, dict | list):
        inner = _build({"class_name": entry["class_name"], "config": layer_config}, {}, "", {})
        _share_out(shapes.get(name, []), inner.layers)
        layer.nested = inner.layers
    return layer


def _share_out(weights: list[tuple[str, tuple[int, ...], bool]], layers: list[StoredLayer]) -> None:
    """Gives a nested model's stored weights to its layers, by the layer name in each weight's path."""
    by_name = {layer.name: layer for layer in layers}
    for weight_name, shape, trains in weights:
        owner = next((by_name[part] for part in weight_name.split("/") if part in by_name), None)
        if owner is not None:
            owner.weight_shapes.append(shape)
            if not trains:
                owner.non_trainable_shapes.append(shape)


def _node_inputs(node: Any) -> list[tuple[str, int, int]]:
    """The inputs of one call: Keras 2 lists `[name, node, tensor, kwargs]`, Keras 3 `keras_history`."""
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        return list(_keras_histories(node.get("args", [])))
    inputs = []
    for item in node:
        if isinstance(item, list | tuple) and len(item) >= 3 and isinstance(item[0], str):
            inputs.append((item[0], int(item[1]), int(item[2])))
    return inputs


def _keras_histories(value: Any) -> Iterator[tuple[str, int, int]]:
    if isinstance(value, dict):
        history = (
            value.get("config", {}).get("keras_history")
            if value.get("class_name") == "__keras_tensor__"
            else None
        )
        if history is not None:
            yield str(history[0]), int(history[1]), int(history[2])
            return
        for item in value.values():
            yield from _keras_histories(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _keras_histories(item)


def _chain_sequential(layers: list[StoredLayer]) -> None:
    """A Sequential's layers each take the previous one's output (the file records no edges)."""
    for previous, layer in itertools.pairwise(layers):
        if not layer.inbound:
            layer.inbound = [[(previous.name, 0, 0)]]
