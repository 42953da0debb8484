"""Argument checks and shape arithmetic of convolution layers, as Keras 2.2.4's `conv_utils` gave them.

Custom convolution layers written for Keras 2 call these to normalise their
arguments (`kernel_size=3` -> `(3, 3)`) and to compute their output shapes.
Everything here is plain Python and NumPy: only `normalize_data_format(None)`
asks the active Keras for its default image data format.

Differences from Keras 2.2.4 (bugs fixed, see the docs page `docs/conv_utils.md`):
- `normalize_tuple` accepts NumPy integers, returns Python ints, and refuses
  non-integral elements (2.2.4 let `2.5` through and raised a bare
  `TypeError` for `None`).
- A padding that is not a string is a `ValueError`, not an `AttributeError`.
- An unknown padding in the length helpers is a `ValueError` naming it,
  where 2.2.4 used `assert` (gone under `python -O`).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import ConvArgumentError

__all__ = [
    "conv_input_length",
    "conv_output_length",
    "convert_kernel",
    "deconv_length",
    "normalize_data_format",
    "normalize_padding",
    "normalize_tuple",
]

_PADDINGS = ("valid", "same", "causal")
_DATA_FORMATS = ("channels_first", "channels_last")


def normalize_tuple(value: int | Iterable[int], n: int, name: str) -> tuple[int, ...]:
    """Turns an int, or an iterable of `n` ints, into a tuple of `n` ints.

    Args:
        value: An int (repeated `n` times) or an iterable of exactly `n` ints.
        n: The length of the tuple to return.
        name: The argument's name (e.g. 'kernel_size'), used in error messages.

    Returns:
        A tuple of `n` Python ints.

    Raises:
        ConvArgumentError: (a `ValueError`) if `value` is neither an int nor an
            iterable of `n` integers; the message names `name` and `value`.

    Example:

    ```python
    normalize_tuple(3, 2, "kernel_size")  # (3, 3)
    normalize_tuple([1, 2], 2, "strides")  # (1, 2)
    ```
    """
    expected = f"The `{name}` argument must be a tuple of {n} integers. Received: {value}"
    single = _as_int(value)
    if single is not None:
        return (single,) * n
    try:
        items = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise ConvArgumentError(expected) from None
    if len(items) != n:
        raise ConvArgumentError(expected)
    result = []
    for item in items:
        number = _as_int(item)
        if number is None:
            raise ConvArgumentError(f"{expected} including element {item} of type {type(item)}")
        result.append(number)
    return tuple(result)


def normalize_padding(value: str) -> str:
    """Checks a padding name and returns it in lower case.

    Args:
        value: 'valid', 'same' or 'causal' (any case).

    Returns:
        The padding in lower case.

    Raises:
        ConvArgumentError: (a `ValueError`) for any other value.

    Example:

    ```python
    normalize_padding("SAME")  # 'same'
    ```
    """
    padding = value.lower() if isinstance(value, str) else value
    if padding not in _PADDINGS:
        raise ConvArgumentError(
            'The `padding` argument must be one of "valid", "same" (or "causal" for Conv1D). '
            f"Received: {padding}"
        )
    return padding


def normalize_data_format(value: str | None) -> str:
    """Checks a data format and returns it in lower case; None means the Keras default.

    Args:
        value: 'channels_first', 'channels_last' (any case), or None for the
            active Keras' `image_data_format()`.

    Returns:
        'channels_first' or 'channels_last'.

    Raises:
        ConvArgumentError: (a `ValueError`) for any other value.

    Example:

    ```python
    normalize_data_format("Channels_Last")  # 'channels_last'
    ```
    """
    if value is None:
        from ._keras import import_keras

        value = import_keras("normalize_data_format(None)").backend.image_data_format()
    data_format = value.lower() if isinstance(value, str) else value
    if data_format not in _DATA_FORMATS:
        raise ConvArgumentError(
            f'The `data_format` argument must be one of "channels_first", "channels_last". Received: {value}'
        )
    return str(data_format)


def convert_kernel(kernel: Any) -> np.ndarray:
    """Converts a convolution kernel between the Theano and TensorFlow layouts.

    Flips the kernel along every spatial axis (all but the last two); the
    conversion is its own inverse. The input is not modified.

    Args:
        kernel: A 3D, 4D or 5D array (Conv1D, Conv2D or Conv3D kernel).

    Returns:
        A new NumPy array of the same shape.

    Raises:
        ConvArgumentError: (a `ValueError`) if the kernel is not 3D to 5D.

    Example:

    ```python
    tf_kernel = convert_kernel(theano_kernel)
    ```
    """
    array = np.asarray(kernel)
    if not 3 <= array.ndim <= 5:
        raise ConvArgumentError(
            f"Invalid kernel shape: {array.shape}; convert_kernel expects a 3D, 4D or 5D kernel "
            "(Conv1D, Conv2D or Conv3D)."
        )
    spatial_flip = (slice(None, None, -1),) * (array.ndim - 2)
    return np.copy(array[spatial_flip])


def conv_output_length(
    input_length: int | None, filter_size: int, padding: str, stride: int, dilation: int = 1
) -> int | None:
    """The output length of a convolution along one axis.

    Args:
        input_length: The input length, or None when unknown.
        filter_size: The kernel size along the axis.
        padding: 'same', 'valid', 'full' or 'causal'.
        stride: The stride along the axis.
        dilation: The dilation rate along the axis.

    Returns:
        The output length, or None if `input_length` is None.

    Raises:
        ConvArgumentError: (a `ValueError`) if `padding` is unknown.

    Example:

    ```python
    conv_output_length(10, 3, "valid", 1)  # 8
    ```
    """
    _check_padding(padding, ("same", "valid", "full", "causal"))
    if input_length is None:
        return None
    dilated = _dilated(filter_size, dilation)
    if padding == "valid":
        length = input_length - dilated + 1
    elif padding == "full":
        length = input_length + dilated - 1
    else:
        length = input_length
    return (length + stride - 1) // stride


def conv_input_length(output_length: int | None, filter_size: int, padding: str, stride: int) -> int | None:
    """The input length that a convolution maps to `output_length` along one axis.

    Args:
        output_length: The output length, or None when unknown.
        filter_size: The kernel size along the axis.
        padding: 'same', 'valid' or 'full'.
        stride: The stride along the axis.

    Returns:
        The input length, or None if `output_length` is None.

    Raises:
        ConvArgumentError: (a `ValueError`) if `padding` is unknown.

    Example:

    ```python
    conv_input_length(8, 3, "valid", 1)  # 10
    ```
    """
    _check_padding(padding, ("same", "valid", "full"))
    if output_length is None:
        return None
    pad = _padding_size(padding, filter_size)
    return (output_length - 1) * stride - 2 * pad + filter_size


def deconv_length(
    dim_size: int | None,
    stride_size: int,
    kernel_size: int,
    padding: str,
    output_padding: int | None,
    dilation: int = 1,
) -> int | None:
    """The output length of a transposed convolution along one axis.

    Args:
        dim_size: The input length, or None when unknown.
        stride_size: The stride along the axis.
        kernel_size: The kernel size along the axis.
        padding: 'same', 'valid' or 'full'.
        output_padding: Extra length added on one side of the output, or None
            to infer the length.
        dilation: The dilation rate along the axis.

    Returns:
        The output length, or None if `dim_size` is None.

    Raises:
        ConvArgumentError: (a `ValueError`) if `padding` is unknown.

    Example:

    ```python
    deconv_length(5, 2, 3, "valid", None)  # 11
    ```
    """
    _check_padding(padding, ("same", "valid", "full"))
    if dim_size is None:
        return None
    kernel = _dilated(kernel_size, dilation)
    if output_padding is None:
        if padding == "valid":
            return dim_size * stride_size + max(kernel - stride_size, 0)
        if padding == "full":
            return dim_size * stride_size - (stride_size + kernel - 2)
        return dim_size * stride_size
    pad = _padding_size(padding, kernel)
    return (dim_size - 1) * stride_size + kernel - 2 * pad + output_padding


def _as_int(value: Any) -> int | None:
    """`value` as a Python int if it is an integer (int, NumPy integer, ...), else None."""
    if isinstance(value, bool | float | str | bytes):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _dilated(size: int, dilation: int) -> int:
    return size + (size - 1) * (dilation - 1)


def _padding_size(padding: str, kernel: int) -> int:
    return {"same": kernel // 2, "valid": 0, "full": kernel - 1}[padding]


def _check_padding(padding: str, allowed: tuple[str, ...]) -> None:
    if padding not in allowed:
        raise ConvArgumentError(
            f"padding={padding!r} is not supported here; expected one of {', '.join(map(repr, allowed))} "
            "(lower case, as normalize_padding returns it)."
        )
