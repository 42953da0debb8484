"""Output shapes for a model read from its file (`kutils._stored_model`), computed layer by layer.

When Keras cannot load a whole model file (one unknown class, a nested model
its loader trips on), most layers in it are still ordinary Keras layers. Each
one is rebuilt alone from its stored configuration with the active Keras and
asked for its output shape given its inputs' shapes, in file order. Layers
that cannot be rebuilt (unknown or custom classes, Lambda, whose code is never
run here) keep no shape, and neither do the layers that depend on them.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from ._stored_model import StoredLayer, StoredModel

__all__ = ["infer_output_shapes"]

Shape = tuple[int | None, ...]
_NEVER_REBUILT = ("Lambda", "InputLayer", "Sequential", "Model", "Functional")
_RETRIES = 3
_UNRECOGNIZED = re.compile(r"[Uu]nrecognized keyword arguments[^{]*\{([^}]*)\}")


def infer_output_shapes(model: StoredModel, keras: Any) -> int:
    """Fills `output_shape` of the layers of `model` that Keras can compute.

    Args:
        model: A model read from its file; its layers are updated in place.
        keras: The active Keras module (Keras 3 or tf_keras).

    Returns:
        How many layers got a shape.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _infer(model.layers, keras, None)


def _infer(layers: list[StoredLayer], keras: Any, model_input: Shape | None) -> int:
    known: dict[str, Shape] = {}
    found = 0
    previous: StoredLayer | None = None
    for layer in layers:
        inputs = _input_shapes(layer, known, previous, model_input)
        if layer.output_shape is None and inputs is not None:
            if layer.nested:
                found += _infer(layer.nested, keras, inputs[0] if len(inputs) == 1 else None)
                last = layer.nested[-1] if layer.nested else None
                layer.output_shape = last.output_shape if last is not None else None
            else:
                layer.output_shape = _computed(layer, keras, inputs)
            found += layer.output_shape is not None
        if layer.output_shape is not None:
            known[layer.name] = layer.output_shape
        previous = layer
    return found


def _input_shapes(
    layer: StoredLayer, known: dict[str, Shape], previous: StoredLayer | None, model_input: Shape | None
) -> list[Shape] | None:
    if layer.inbound:
        names = [name for name, _, _ in layer.inbound[0]]
        if names and all(name in known for name in names):
            return [known[name] for name in names]
        if names:
            return None
    if layer.batch_input_shape is not None:
        return [layer.batch_input_shape]
    if previous is None and model_input is not None:
        return [model_input]
    return None


def _computed(layer: StoredLayer, keras: Any, inputs: list[Shape]) -> Shape | None:
    layer_class = getattr(keras.layers, layer.class_name, None)
    if layer.class_name in _NEVER_REBUILT or not isinstance(layer_class, type):
        return None
    config = _todays_config(layer.config)
    for _ in range(_RETRIES):
        try:
            rebuilt = _from_config(layer_class, config)
            shape = rebuilt.compute_output_shape(inputs[0] if len(inputs) == 1 else inputs)
            break
        except Exception as error:  # a config today's Keras does not take: drop what it names, or give up
            unknown = _UNRECOGNIZED.search(str(error))
            if unknown is None:
                return None
            config = {key: value for key, value in config.items() if key not in _quoted(unknown.group(1))}
    else:
        return None
    if hasattr(shape, "as_list"):  # tf_keras answers a TensorShape
        shape = shape.as_list()
    if not isinstance(shape, list | tuple) or not all(dim is None or isinstance(dim, int) for dim in shape):
        return None  # several outputs: shown as '?'
    return tuple(shape)


def _todays_config(config: dict[str, Any]) -> dict[str, Any]:
    """A Keras 2 layer configuration in the form today's layers take (shapes are passed apart)."""
    today = {key: value for key, value in config.items() if key not in ("batch_input_shape", "batch_shape")}
    axis = today.get("axis")
    if isinstance(axis, list) and len(axis) == 1:  # tf_keras stores BatchNormalization's axis as [n]
        today["axis"] = axis[0]
    return today


def _quoted(text: str) -> set[str]:
    return set(re.findall(r"'([^']+)'", text))


def _from_config(layer_class: Any, config: dict[str, Any]) -> Any:
    """`layer_class.from_config(config)` (a Keras class: typed `Any`, unlike the `type` it was checked as)."""
    return layer_class.from_config(config)
