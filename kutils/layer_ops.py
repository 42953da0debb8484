"""Keras 2.2.4 `layer_utils` helpers on Keras 3 models: source inputs and weight-layout conversion.

- `get_source_inputs`: the input tensors a symbolic tensor was computed from.
- `convert_all_kernels_in_model`: flip convolution kernels between the
  Theano and TensorFlow layouts.
- `convert_dense_weights_data_format`: reorder a `Dense` kernel that follows
  a `Flatten` when the feature maps before it change data format.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _introspect
from .convolution import convert_kernel
from .errors import InvalidDataFormatError

__all__ = [
    "InvalidDataFormatError",
    "convert_all_kernels_in_model",
    "convert_dense_weights_data_format",
    "get_source_inputs",
]

# Keras 2.2.4 converted these classes (and, here, their subclasses).
_CONV_CLASS_NAMES = frozenset({"Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose"})
_DATA_FORMATS = ("channels_first", "channels_last")


def get_source_inputs(tensor: Any, layer: Any = None, node_index: int | None = None) -> Any:
    """Returns the list of input tensors needed to compute `tensor`.

    Walks the Keras graph back from `tensor` (through `_keras_history`) to the
    input tensors it depends on, each listed once, in first-seen order. Each
    node is visited once, so deep graphs with many branches (ResNets) stay fast.

    Args:
        tensor: A symbolic Keras tensor. Anything else (no `_keras_history`)
            is returned unchanged, as in Keras 2.2.4.
        layer: Start from this layer instead of the one that produced `tensor`.
        node_index: Which call (inbound node) of `layer` to start from;
            defaults to the one that produced `tensor` if `layer` is that
            tensor's layer, else 0.

    Returns:
        The list of input tensors (a tensor made by no layer gives `[tensor]`).

    Raises:
        ValueError: If `node_index` is not a call of `layer`.

    Example:

    >>> import keras
    >>> a = keras.Input((3,)); b = keras.Input((3,))
    >>> out = keras.layers.Add()([keras.layers.Dense(3)(a), b])
    >>> [t is a for t in get_source_inputs(out)], [t is b for t in get_source_inputs(out)]
    ([True, False], [False, True])
    """
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return tensor
    if layer is None:
        layer, node_index = history[0], history[1]
    elif node_index is None:
        node_index = history[1] if history[0] is layer else 0
    if layer is None or not layer._inbound_nodes:
        return [tensor]
    nodes = layer._inbound_nodes
    if node_index is None or not 0 <= node_index < len(nodes):
        raise ValueError(
            f"node_index={node_index!r} is not a call of layer {layer.name!r}, which has {len(nodes)} "
            f"inbound node(s) (valid: 0 to {len(nodes) - 1})."
        )
    return _walk_to_sources(nodes[node_index])


def _walk_to_sources(start: Any) -> list[Any]:
    sources: dict[int, Any] = {}
    seen: set[int] = set()
    stack = [start]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        inputs = _introspect.node_inputs(node)
        if not inputs or getattr(node, "is_input", False):
            for tensor in inputs or _introspect.node_outputs(node):
                sources.setdefault(id(tensor), tensor)
            continue
        # Reversed so that the first input is explored first (first-seen order).
        for tensor in reversed(inputs):
            operation, index = tensor._keras_history[0], tensor._keras_history[1]
            if operation is None or not operation._inbound_nodes:
                sources.setdefault(id(tensor), tensor)
            else:
                stack.append(operation._inbound_nodes[index])
    return list(sources.values())


def convert_all_kernels_in_model(model: Any) -> None:
    """Converts the convolution kernels of a model between Theano and TensorFlow layouts.

    Flips the spatial axes of the kernel of every `Conv1D`, `Conv2D`,
    `Conv3D` and `Conv2DTranspose` layer (and their subclasses), in the model
    and in the models nested inside it. Converting twice restores the weights.

    Args:
        model: A built Keras model.

    Raises:
        TypeError: If `model` is not a Keras model.
        ModelNotBuiltError: (a `ValueError`) if the model was never built.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((5, 1)), keras.layers.Conv1D(1, 3, use_bias=False)])
    >>> before = model.get_weights()[0].copy()
    >>> convert_all_kernels_in_model(model)
    >>> np.array_equal(model.get_weights()[0], before[::-1])
    True
    """
    _introspect.ensure_built(model, "convert_all_kernels_in_model")
    converted: set[int] = set()
    for layer in _all_layers(model):
        if not _is_conv(layer) or id(layer.kernel) in converted:
            continue
        converted.add(id(layer.kernel))
        layer.kernel.assign(convert_kernel(np.asarray(layer.kernel)))


def _all_layers(model: Any) -> list[Any]:
    found: list[Any] = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        if getattr(layer, "layers", None):
            found.extend(_all_layers(layer))
    return found


def _is_conv(layer: Any) -> bool:
    return any(cls.__name__ in _CONV_CLASS_NAMES for cls in type(layer).__mro__) and bool(layer.built)


def convert_dense_weights_data_format(
    dense: Any,
    previous_feature_map_shape: Sequence[int],
    target_data_format: str = "channels_first",
) -> None:
    """Reorders the kernel of a `Dense` layer that follows `Flatten`, for a new data format.

    When a conv net moves between `channels_last` and `channels_first`, the
    feature maps before `Flatten` change layout, so the rows of the following
    `Dense` kernel must be permuted to match. The bias is kept.

    Args:
        dense: The built `Dense` layer right after the `Flatten`.
        previous_feature_map_shape: Shape of one feature map before `Flatten`,
            in the target layout, e.g. `(512, 7, 7)` for `channels_first`.
            Any number of spatial dimensions works (2.2.4 took exactly 3 values).
        target_data_format: The layout to convert to, `'channels_first'` or
            `'channels_last'`.

    Raises:
        InvalidDataFormatError: (a `ValueError` and `AssertionError`) for any
            other `target_data_format`.
        ValueError: If the shape does not match the kernel's input size.

    Example:

    >>> import keras
    >>> dense = keras.layers.Dense(2)
    >>> dense.build((None, 12))
    >>> convert_dense_weights_data_format(dense, (3, 2, 2), "channels_first")
    """
    if target_data_format not in _DATA_FORMATS:
        raise InvalidDataFormatError(
            f"target_data_format={target_data_format!r} must be one of {_DATA_FORMATS}."
        )
    shape = tuple(int(dim) for dim in previous_feature_map_shape)
    weights = dense.get_weights()
    kernel = np.asarray(weights[0]) if weights else np.empty((0, 0))
    if len(shape) < 2 or kernel.ndim != 2 or int(np.prod(shape)) != kernel.shape[0]:
        raise ValueError(
            f"previous_feature_map_shape={tuple(previous_feature_map_shape)!r} does not fit layer "
            f"{getattr(dense, 'name', dense)!r}: expected at least 2 dimensions whose product is the "
            f"kernel's input size {kernel.shape[0] if kernel.ndim == 2 else 'unknown (not built?)'}."
        )
    last = len(shape) - 1
    if target_data_format == "channels_first":  # stored rows follow (spatial..., channels)
        source_shape, channel_from, channel_to = (*shape[1:], shape[0]), last, 0
    else:  # stored rows follow (channels, spatial...)
        source_shape, channel_from, channel_to = (shape[-1], *shape[:-1]), 0, last
    reordered = np.moveaxis(kernel.reshape((*source_shape, kernel.shape[1])), channel_from, channel_to)
    weights[0] = reordered.reshape(kernel.shape)
    dense.set_weights(weights)
