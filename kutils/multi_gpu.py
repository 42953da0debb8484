"""`multi_gpu_model`: Keras 2.2.4 single-machine data parallelism on Keras 3 and tf_keras / TensorFlow.

The returned model splits each input batch into one sub-batch per device, runs
the template model on each sub-batch under `tf.device(...)`, and concatenates
the outputs on the merge device. Keras 3 functional graphs do not record the
`tf.device` scopes that are active while they are built, so the placement is
done inside `_ReplicatedTemplate.call`, i.e. every time the model is traced or
run. The replicas are calls of the template itself, so they share its weights.

The two layers below are defined once per Keras line (`_layers_for`), with
that line's `Layer` base and serialization registry, so a tf_keras template
gets tf_keras layers whichever line is active. This module needs TensorFlow
and Keras for everything, so it imports them (the active line's layers
registered for loading) at the top; `kutils` only imports it on first use of
`multi_gpu_model`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from ._keras import adapter, import_keras, import_tensorflow, keras_for
from .errors import DevicePlacementError

tf = import_tensorflow("multi_gpu_model")

__all__ = ["DevicePlacementError", "multi_gpu_model"]


def _normalize_device_name(name: str) -> str:
    """`/job:localhost/replica:0/task:0/device:GPU:0`, `GPU:0` or `/gpu:0` -> `/gpu:0`."""
    return "/" + ":".join(name.lower().replace("/", "").split(":")[-2:])


def _available_devices() -> list[str]:
    return [_normalize_device_name(device.name) for device in tf.config.list_logical_devices()]


def _check_available(
    requested: Sequence[str], argument: str, available: list[str], advice: str = "Try reducing `gpus`."
) -> None:
    """Raises the Keras 2.2.4 message if a requested device does not exist."""
    for device in requested:
        if device not in available:
            raise DevicePlacementError(
                f"To call `multi_gpu_model` with `{argument}`, we expect the following devices to be "
                f"available: {list(requested)}. However this machine only has: {available}. {advice}"
            )


def _devices_from_gpus(gpus: int | Sequence[int] | None, available: list[str]) -> list[str]:
    """The Keras 2.2.5 rules: `gpus` is a count or a list of GPU ids; None/0 means all GPUs."""
    if not gpus:
        gpus = len([name for name in available if "/gpu:" in name])
    if isinstance(gpus, list | tuple):
        if len(gpus) <= 1:
            raise DevicePlacementError(
                "For multi-gpu usage to be effective, call `multi_gpu_model` with `len(gpus) >= 2`. "
                f"Received: `gpus={gpus}`"
            )
        if not all(isinstance(gpu, int) and not isinstance(gpu, bool) for gpu in gpus):
            raise TypeError(f"`gpus` must be an int or a list of int GPU ids; received gpus={gpus!r}")
        gpu_ids = list(gpus)
    elif isinstance(gpus, int) and not isinstance(gpus, bool):
        if gpus <= 1:
            raise DevicePlacementError(
                "For multi-gpu usage to be effective, call `multi_gpu_model` with `gpus >= 2`. "
                f"Received: `gpus={gpus}`"
            )
        gpu_ids = list(range(gpus))
    else:
        raise TypeError(f"`gpus` must be an int or a list of int GPU ids; received gpus={gpus!r}")
    devices = [f"/gpu:{gpu_id}" for gpu_id in gpu_ids]
    _check_available(["/cpu:0", *devices], f"gpus={gpus}", available)
    return devices


def _devices_from_names(names: Sequence[str], available: list[str]) -> list[str]:
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise TypeError(f"`devices` must be a list of device names such as '/cpu:1'; received {names!r}")
    devices = [_normalize_device_name(name) for name in names]
    if len(devices) <= 1:
        raise DevicePlacementError(
            "For multi-gpu usage to be effective, call `multi_gpu_model` with `len(devices) >= 2`. "
            f"Received: `devices={list(names)}`"
        )
    if len(set(devices)) != len(devices):
        raise DevicePlacementError(
            f"`devices` must name distinct devices (one replica each); received devices={list(names)}"
        )
    _check_available(devices, f"devices={list(names)}", available, "Name only devices that exist.")
    return devices


def _deduplicated_output_names(names: Sequence[str]) -> list[str]:
    """Keras 2.2.4 rule: every occurrence of a repeated name gets `_1`, `_2`, ... (Siamese models)."""
    totals = {name: names.count(name) for name in names}
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        if totals[name] > 1:
            seen[name] = seen.get(name, 0) + 1
            name = f"{name}_{seen[name]}"
        unique.append(name)
    return unique


def _batch_slice(tensor: Any, index: int, parts: int) -> Any:
    """Rows of sub-batch `index` of `parts`: equal parts, the last one takes the remainder."""
    batch = tf.shape(tensor)[0]
    step = batch // parts
    size = batch - step * index if index == parts - 1 else step
    return tensor[step * index : step * index + size]


def _template_signature(keras: ModuleType, model: Any) -> tuple[Any, Any, list[str]]:
    """The template's symbolic inputs and outputs (in their built structure) and its output names."""
    if isinstance(model, keras.Sequential):
        return model.inputs[0], model.outputs[0], [model.layers[-1].name]
    return model.input, model.output, list(model.output_names)


def _relocate_variables(keras: ModuleType, model: Any, device: str) -> None:
    """Moves each variable's storage onto `device`, keeping the same Keras variable objects.

    Keras 2.2.4 cloned the model instead, so the caller's template got fresh,
    untrained weights (https://github.com/keras-team/keras/issues/11313). Here
    the template keeps its identity and its current values; only where the
    values live changes.
    """
    adapter(keras).relocate_variables(model, device)
    for compiled_function in ("train_function", "test_function", "predict_function"):
        if hasattr(model, compiled_function):
            setattr(model, compiled_function, None)


def _call_on_device(template: Any, sub_batch: Any, device: str, training: bool | None) -> Any:
    """`template(sub_batch)` with its forward *and backward* ops on `device`.

    TF 2's `GradientTape` builds gradient ops wherever `tape.gradient` is
    called (the default device), not next to their forward ops as Keras
    2.2.4's `K.gradients` did (`colocate_gradients_with_ops=True`), so the
    backward pass of every replica would run on one device. A custom gradient
    computes the replica's gradients under `tf.device(device)` instead.
    """
    inputs = tf.nest.flatten(sub_batch)

    @tf.custom_gradient  # type: ignore[untyped-decorator]  # TensorFlow ships no types
    def replica(*flat_inputs: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            tape.watch([tensor for tensor in flat_inputs if tensor.dtype.is_floating])
            outputs = template(tf.nest.pack_sequence_as(sub_batch, list(flat_inputs)), training=training)

        def gradient(*upstream: Any, variables: Any = None) -> Any:
            flat_outputs = tf.nest.flatten(outputs)
            upstream_or_zeros = [
                tf.zeros_like(output) if grad is None else grad
                for output, grad in zip(flat_outputs, upstream, strict=True)
            ]
            sources = [*flat_inputs, *(variables or [])]
            with tf.device(device):
                grads = tape.gradient(flat_outputs, sources, output_gradients=upstream_or_zeros)
            input_grads = grads[: len(flat_inputs)]
            return input_grads if variables is None else (input_grads, grads[len(flat_inputs) :])

        return outputs, gradient

    with tf.device(device):
        return replica(*inputs)


@functools.cache
def _layers_for(keras: ModuleType) -> tuple[Any, Any]:
    """`(_ReplicatedTemplate, _ConcatenateOn)` for one Keras line, registered for loading on it."""
    register = keras.saving.register_keras_serializable
    layer: Any = keras.layers.Layer  # typed as Any: mypy cannot see through the lazy import

    @register(package="kutils", name="ReplicatedTemplate")
    class _ReplicatedTemplate(layer):  # type: ignore[misc]
        """Calls `template` once per device on that device's slice of the batch.

        Returns one list per template output, holding that output's per-device parts.
        Serializable, so the parallel model itself can be saved (2.2.4's could not).
        """

        def __init__(self, template: Any, devices: Sequence[str], split_device: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.template = template
            self.devices = list(devices)
            self.split_device = split_device

        def build(self, input_shape: Any) -> None:
            self.built = True

        def call(self, inputs: Any, training: bool | None = None) -> list[list[Any]]:
            parts = len(self.devices)
            per_device = []
            for index, device in enumerate(self.devices):
                with tf.device(self.split_device):
                    sub_batch = tf.nest.map_structure(lambda x, i=index: _batch_slice(x, i, parts), inputs)
                with tf.name_scope(f"replica_{index}"):
                    outputs = _call_on_device(self.template, sub_batch, device, training)
                per_device.append(tf.nest.flatten(outputs))
            return [list(parts_of_output) for parts_of_output in zip(*per_device, strict=True)]

        def get_config(self) -> dict[str, Any]:
            return {
                **super().get_config(),
                "template": keras.saving.serialize_keras_object(self.template),
                "devices": self.devices,
                "split_device": self.split_device,
            }

        @classmethod
        def from_config(cls, config: dict[str, Any]) -> Any:
            template = keras.saving.deserialize_keras_object(config.pop("template"))
            return cls(template, **config)

    @register(package="kutils", name="ConcatenateOn")
    class _ConcatenateOn(layer):  # type: ignore[misc]
        """Concatenates sub-batch outputs along the batch axis on `device`."""

        def __init__(self, device: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.device = device

        def call(self, parts: list[Any]) -> Any:
            with tf.device(self.device):
                return tf.concat(parts, axis=0)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "device": self.device}

    return _ReplicatedTemplate, _ConcatenateOn


def multi_gpu_model(
    model: Any,
    gpus: int | Sequence[int] | None = None,
    cpu_merge: bool = True,
    cpu_relocation: bool = False,
    *,
    devices: Sequence[str] | None = None,
) -> Any:
    """Replicates a model on several devices (single-machine data parallelism).

    The returned model divides each input batch into one sub-batch per device
    (equal parts; the last device also takes the remainder, as Keras 2.2.4
    did), runs the template on each sub-batch on its own device, and
    concatenates the results into one batch on the CPU (or on the first device
    when `cpu_merge=False`). Placement happens each time the model is traced or
    run, so it holds in `fit`, `predict` and `tf.function` alike.

    The replicas are calls of `model` itself: they share its weights. Training
    the parallel model trains `model`; save with `model.save(...)` or
    `model.save_weights(...)`, not with the parallel model.

    Args:
        model: The template: a built functional or Sequential model, of Keras
            3 or of tf_keras (`TF_USE_LEGACY_KERAS=1` or `import tf_keras`).
        gpus: Integer >= 2, or list of GPU ids, of the GPUs to replicate on.
            None (or 0) means all visible GPUs.
        cpu_merge: Whether to split the batch and merge the outputs on
            `/cpu:0` (True) or on the first replica device (False).
        cpu_relocation: Whether to move the template's weights onto `/cpu:0`
            first. Unlike Keras 2.2.4, which cloned the model with fresh
            weights (keras#11313), the template keeps its (moved) weights and
            stays shared with the parallel model. A template already trained
            with its own optimizer must be compiled again before it is
            trained directly.
        devices: Keyword-only, beyond Keras 2.2.4: explicit device names, e.g.
            `['/gpu:0', '/gpu:2']` or logical CPUs `['/cpu:0', '/cpu:1']`.
            Use either `gpus` or `devices`.

    Returns:
        A new Keras model with the template's inputs, one output per template
        output (repeated output names get `_1`, `_2`, ... as in Keras 2.2.4).

    Raises:
        DevicePlacementError: (a `ValueError`) with the Keras 2.2.4 messages if
            fewer than 2 devices are requested, or if a requested device (or
            `/cpu:0`) does not exist; also if `devices` repeats a device.
        ValueError: If both `gpus` and `devices` are given, if the Keras
            backend is not TensorFlow, or if `model` has no defined inputs.
        TypeError: If `model` is not a Keras model, or `gpus` / `devices`
            have the wrong type.

    Example:

    ```python
    import tensorflow as tf
    from kutils import multi_gpu_model

    with tf.device("/cpu:0"):
        model = build_model()  # the template
    parallel_model = multi_gpu_model(model, gpus=8)
    parallel_model.compile(loss="categorical_crossentropy", optimizer="rmsprop")
    parallel_model.fit(x, y, epochs=20, batch_size=256)  # 32 samples per GPU
    model.save("my_model.h5")  # the template shares the trained weights
    ```
    """
    keras = keras_for(model, "multi_gpu_model")
    if keras.backend.backend() != "tensorflow":
        raise ValueError("`multi_gpu_model` is only available with the TensorFlow backend.")
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"`model` must be a Keras model (Keras 3 `keras.Model` or tf_keras `tf_keras.Model`); "
            f"received {type(model).__name__}: {model!r}"
        )
    if devices is not None and gpus is not None:
        raise ValueError(
            f"Pass either `gpus` or `devices`, not both; received gpus={gpus!r}, devices={devices!r}"
        )
    if not getattr(model, "inputs", None):
        raise ValueError(
            f"`multi_gpu_model` needs a model with defined inputs (a functional or Sequential model "
            f"built on `keras.Input`); model {model.name!r} has none. Call it on data or build it first."
        )

    available = _available_devices()
    if devices is None:
        replica_devices = _devices_from_gpus(gpus, available)
    else:
        replica_devices = _devices_from_names(devices, available)
    merge_device = "/cpu:0" if cpu_merge else replica_devices[0]
    _check_available([merge_device], f"cpu_merge={cpu_merge}", available, "The merge device must exist.")

    if cpu_relocation:
        _relocate_variables(keras, model, "/cpu:0")

    inputs, outputs, output_names = _template_signature(keras, model)
    replicated_template, concatenate_on = _layers_for(keras)
    replicated = replicated_template(model, replica_devices, merge_device, name="replicated_template")
    parts_per_output = replicated(inputs)
    merged = [
        concatenate_on(merge_device, name=name)(parts)
        for name, parts in zip(_deduplicated_output_names(output_names), parts_per_output, strict=True)
    ]
    return keras.Model(inputs, tf.nest.pack_sequence_as(outputs, merged), name=f"{model.name}_multi_device")


_layers_for(import_keras("multi_gpu_model"))  # the active line's layers, registered for load_model
