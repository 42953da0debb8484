"""Array helpers of Keras 2.2.4: `to_categorical`, `normalize`, `to_list`, `slice_arrays`.

`to_categorical` and `normalize` keep the Keras 2.2.4 results and shapes, but
reject the inputs that 2.2.4 silently turned into wrong data (negative or
out-of-range labels, fractional labels, NaN). Both accept lists, NumPy arrays
and TensorFlow / Keras tensors, and always return NumPy arrays; TensorFlow is
only touched when a tensor is passed in.
"""

from __future__ import annotations

import numbers
import operator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ._keras import import_keras, is_backend_tensor
from ._row_blocks import for_row_blocks

__all__ = ["normalize", "slice_arrays", "to_categorical", "to_list"]

# How many offending values an error message quotes.
_SHOWN_VALUES = 5


def to_categorical(y: ArrayLike, num_classes: int | None = None, dtype: DTypeLike = "float32") -> np.ndarray:
    """Converts a class vector (integers) to a binary class matrix (one-hot).

    E.g. for use with `categorical_crossentropy`. A trailing axis of size 1 is
    dropped first, so labels of shape `(n, 1)` give `(n, num_classes)` like
    labels of shape `(n,)`; any other shape `s` gives `s + (num_classes,)`, and
    a single label gives shape `(num_classes,)`.

    Args:
        y: Class labels: integers from 0 to `num_classes - 1`, as a list, a
            NumPy array or a TensorFlow / Keras tensor. Booleans count as 0/1
            and floats with an integral value (like `2.0`) are accepted;
            numeric strings (like `'1'`) are parsed as Keras 2.2.4 did.
        num_classes: Total number of classes. None (or 0, as in Keras 2.2.4)
            means `max(y) + 1`.
        dtype: The data type of the result, any NumPy dtype.

    Returns:
        A NumPy array of `dtype` with the one-hot encoding of `y`.

    Raises:
        ValueError: If a label is negative, `>= num_classes`, fractional,
            NaN or infinite, or not a number (the message names a few of the
            offending values and how many there are); if `y` is empty and
            `num_classes` is not given; or if `num_classes` is negative.
        TypeError: If `num_classes` is not an integer (e.g. `2.5` or `True`).

    Example:

    ```python
    >>> to_categorical([0, 2, 1], num_classes=3)
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]], dtype=float32)
    ```
    """
    classes = _check_num_classes(num_classes)
    labels = _as_label_array(y)
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = labels.reshape(-1)
    if classes is None:
        if flat.size == 0:
            raise ValueError(
                "to_categorical cannot infer num_classes from an empty y; pass num_classes "
                "(the result then has shape (0, num_classes))."
            )
        classes = int(flat.max()) + 1
    elif flat.size and int(flat.max()) >= classes:
        too_big = flat[flat >= classes]
        raise ValueError(
            f"to_categorical got {too_big.size} label(s) >= num_classes={classes}: "
            f"{_some(too_big)}; labels must be integers in [0, {classes})."
        )
    onehot = np.zeros((flat.size, classes), dtype=dtype)
    _set_ones(onehot, flat)
    return onehot.reshape((*shape, classes))


def normalize(x: ArrayLike, axis: int = -1, order: float | None = 2) -> np.ndarray:
    """Normalizes an array along one axis to unit norm.

    Each vector along `axis` is divided by its `order`-norm; vectors whose
    norm is 0 are left unchanged (they stay zero). As in Keras 2.2.4, a 1-D
    input of shape `(n,)` gives a result of shape `(1, n)`.

    Args:
        x: Array to normalize: a list, a NumPy array or a TensorFlow / Keras
            tensor of numbers.
        axis: The axis along which to normalize (negative counts from the end).
        order: Normalization order, as `ord` of `np.linalg.norm` for vectors:
            2 (Euclidean, the default), 1, `np.inf`, any other real number;
            None means 2.

    Returns:
        A NumPy array of the shape of `x` (`(1, n)` for 1-D input). Float input
        keeps its dtype (float16, float32, float64, ...); integer and boolean
        input gives float64, like Keras 2.2.4.

    Raises:
        ValueError: If `order` is not a real number or None, or if `axis` is
            not an axis of `x` (a `numpy.exceptions.AxisError`, which is both
            a `ValueError` and an `IndexError`).
        TypeError: If `x` does not hold numbers.

    Example:

    ```python
    >>> normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[0.6, 0.8],
           [0. , 0. ]])
    ```
    """
    _check_order(order)
    values = np.asarray(_to_numpy(x, "normalize"))
    if values.dtype.kind not in "biufc":
        raise TypeError(f"normalize needs an array of numbers, got x of dtype {values.dtype}.")
    axis = _check_axis(axis, values.ndim)
    if values.ndim == 1:  # Keras 2.2.4 returned (1, n) for (n,).
        values, axis = values[np.newaxis], 1
    result_dtype = values.dtype if values.dtype.kind in "fc" else np.dtype(np.float64)
    if axis == values.ndim - 1 and values.flags.c_contiguous and values.dtype == result_dtype:
        return _normalize_rows(values, order)
    return _divide_by_norms(values, axis, order).astype(result_dtype, copy=False)


def to_list(x: Any, allow_tuple: bool = False) -> list[Any]:
    """Normalizes a list/tensor into a list.

    A list is returned as it is; anything else (a tensor, an array, a
    scalar) becomes a list of size 1 containing it.

    Args:
        x: The object to normalize.
        allow_tuple: If True, a tuple is converted to a list of its items; if
            False, a tuple becomes a list with the tuple as its single item.

    Returns:
        A list.

    Example:

    ```python
    >>> to_list((1, 2)), to_list((1, 2), allow_tuple=True)
    ([(1, 2)], [1, 2])
    ```
    """
    if isinstance(x, list):
        return x
    if allow_tuple and isinstance(x, tuple):
        return list(x)
    return [x]


def slice_arrays(arrays: Any, start: Any = None, stop: int | None = None) -> Any:
    """Slices an array, or each array in a list of arrays.

    Gives `arrays[start:stop]` for a single array-like and
    `[x[start:stop] for x in arrays]` for a list (a `None` item stays `None`).
    `start` may also be a list or array of indices, which are then taken
    instead of a range (an array is turned into a list, since HDF5 datasets
    only accept lists).

    Args:
        arrays: A single array-like, a list of array-likes, or None.
        start: An integer start index, or a list/array of indices.
        stop: An integer stop index; must be None if `start` holds indices.

    Returns:
        The slice of the array, the list of slices, or `[None]` if `arrays`
        is None.

    Raises:
        ValueError: If `start` holds indices and `stop` is not None.

    Example:

    ```python
    >>> slice_arrays([np.arange(5), None], 1, 3)
    [array([1, 2]), None]
    ```
    """
    if arrays is None:
        return [None]
    if hasattr(start, "__len__"):
        if stop is not None:
            raise ValueError(
                f"slice_arrays takes stop=None when start is a list of indices, got stop={stop!r}."
            )
        indices = start.tolist() if hasattr(start, "shape") else start
        if isinstance(arrays, list):
            return [None if item is None else item[indices] for item in arrays]
        return arrays[indices]
    if isinstance(arrays, list):
        return [None if item is None else item[start:stop] for item in arrays]
    return arrays[start:stop]


def _to_numpy(value: Any, caller: str) -> Any:
    """Turns a TensorFlow / Keras tensor into NumPy; returns anything else unchanged."""
    if is_backend_tensor(value):
        if hasattr(value, "numpy"):  # eager TensorFlow tensors and variables, on every Keras line
            return value.numpy()
        return import_keras(f"{caller} on a tensor").ops.convert_to_numpy(value)
    return value


def _check_num_classes(num_classes: Any) -> int | None:
    if num_classes is None:
        return None
    not_an_integer = TypeError(
        f"to_categorical num_classes must be an integer or None, got num_classes={num_classes!r}."
    )
    if isinstance(num_classes, bool | np.bool_):
        raise not_an_integer
    try:
        classes = operator.index(num_classes)
    except TypeError:
        raise not_an_integer from None
    if classes < 0:
        raise ValueError(f"to_categorical num_classes must be >= 0 or None, got num_classes={classes}.")
    return classes or None  # Keras 2.2.4 treated 0 as None.


def _as_label_array(y: Any) -> np.ndarray:
    """Returns `y` as an array of whole numbers >= 0 (integer or float dtype), or raises ValueError."""
    try:
        labels = np.asarray(_to_numpy(y, "to_categorical"))
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"to_categorical needs a rectangular array of labels: {error}") from None
    kind = labels.dtype.kind
    if kind == "b":
        return labels.view(np.uint8)
    if kind in "US":
        labels = _parse_numeric_strings(labels)
    elif kind == "O":
        labels = _numbers_from_objects(labels)
    elif kind not in "iuf":
        raise ValueError(f"to_categorical needs integer class labels, got y of dtype {labels.dtype}.")
    if labels.dtype.kind == "f":
        _check_integral(labels)
    if labels.size and labels.min() < 0:
        negative = labels[labels < 0]
        raise ValueError(
            f"to_categorical got {negative.size} negative label(s): {_some(negative)}; "
            "labels must be integers >= 0 (Keras 2.2.4 silently wrapped -1 to the last class)."
        )
    return labels


def _parse_numeric_strings(labels: np.ndarray) -> np.ndarray:
    try:
        return labels.astype(np.int64)
    except ValueError:
        bad = [value for value in labels.reshape(-1).tolist() if not _is_int_literal(value)]
        raise ValueError(
            f"to_categorical needs integer class labels, got {len(bad)} non-integer string(s): "
            f"{bad[:_SHOWN_VALUES]}."
        ) from None


def _is_int_literal(value: str | bytes) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return True


def _numbers_from_objects(labels: np.ndarray) -> np.ndarray:
    items = labels.reshape(-1).tolist()
    bad = [item for item in items if not isinstance(item, numbers.Real)]
    if bad:
        raise ValueError(
            f"to_categorical needs numeric class labels, got {len(bad)} non-numeric value(s): "
            f"{bad[:_SHOWN_VALUES]!r}."
        )
    return np.array(items, dtype=np.float64).reshape(labels.shape)


def _check_integral(labels: np.ndarray) -> None:
    flat = labels.reshape(-1)
    if flat.size and not (np.isfinite(flat.min()) and np.isfinite(flat.max())):
        not_finite = flat[~np.isfinite(flat)]
        raise ValueError(
            f"to_categorical got {not_finite.size} NaN or infinite label(s): {_some(not_finite)}; "
            "labels must be finite integers."
        )
    fractional = flat[np.trunc(flat) != flat]
    if fractional.size:
        raise ValueError(
            f"to_categorical got {fractional.size} non-integer label(s): {_some(fractional)}; "
            "labels must be integers (Keras 2.2.4 silently truncated 1.7 to 1)."
        )


def _some(values: np.ndarray) -> str:
    """Up to `_SHOWN_VALUES` of `values`, as a short list for an error message."""
    shown = values.reshape(-1)[:_SHOWN_VALUES].tolist()
    return f"{shown}{' ...' if values.size > _SHOWN_VALUES else ''}"


def _check_order(order: Any) -> None:
    if order is None:
        return
    if isinstance(order, bool | np.bool_) or not isinstance(order, numbers.Real) or order != order:  # NaN
        raise ValueError(
            f"normalize order must be a real number (2, 1, np.inf, ...) or None, got order={order!r}."
        )


def _check_axis(axis: Any, ndim: int) -> int:
    if isinstance(axis, bool | np.bool_) or not isinstance(axis, numbers.Integral):
        raise ValueError(f"normalize axis must be an integer, got axis={axis!r}.")
    if not -ndim <= int(axis) < ndim:
        raise np.exceptions.AxisError(
            f"normalize axis={axis} is out of range for x with {ndim} dimension(s); "
            f"use an axis in [{-ndim}, {ndim - 1}]."
        )
    return int(axis) % ndim


def _set_ones(onehot: np.ndarray, labels: np.ndarray) -> None:
    """Writes 1 at column `labels[i]` of each row `i` of the zeroed 2-D `onehot`, block by block."""
    classes = onehot.shape[1]
    flat_output = onehot.reshape(-1)

    def set_block(start: int, stop: int) -> None:
        positions = np.arange(start * classes, stop * classes, classes, dtype=np.intp)
        np.add(positions, labels[start:stop], out=positions, casting="unsafe")  # labels are whole numbers
        flat_output[positions] = 1

    for_row_blocks(len(labels), classes * onehot.itemsize, set_block)


def _normalize_rows(values: np.ndarray, order: float | None) -> np.ndarray:
    """`normalize` along the last axis of a C-contiguous float array, block by block."""
    rows = values.reshape(-1, values.shape[-1])
    result = np.empty_like(values)
    out_rows = result.reshape(rows.shape)

    def divide_block(start: int, stop: int) -> None:
        _divide_by_norms(rows[start:stop], 1, order, out=out_rows[start:stop])

    for_row_blocks(len(rows), rows.shape[1] * rows.itemsize, divide_block)
    return result


def _divide_by_norms(
    values: np.ndarray, axis: int, order: float | None, out: np.ndarray | None = None
) -> np.ndarray:
    """`values` divided by their norms along `axis` (norm 0 counts as 1), into `out` if given."""
    norms = _norms(values, axis, order)
    norms[norms == 0] = 1
    divided: np.ndarray = np.divide(values, np.expand_dims(norms, axis), out=out)
    return divided


def _norms(values: np.ndarray, axis: int, order: float | None) -> np.ndarray:
    """The `order`-norms of `values` along `axis`, as a new float array."""
    # Integers are measured in float64, float16 in float32 (so that squares do not overflow).
    work = np.float64 if values.dtype.kind in "biu" else np.promote_types(values.dtype, np.float32)
    vectors = np.moveaxis(values, axis, -1)
    if order in (2, None) and values.dtype.kind != "c":
        # sqrt(sum(x * x)), reading x once.
        norms: np.ndarray = np.einsum("...i,...i->...", vectors, vectors, dtype=work)
        np.sqrt(norms, out=norms)
    else:
        norms = np.linalg.norm(values.astype(work, copy=False), ord=order, axis=axis)
    if values.dtype.kind in "fc" and vectors.shape[-1]:
        _rescale_extreme_norms(norms, vectors, order)
    return norms


def _rescale_extreme_norms(norms: np.ndarray, vectors: np.ndarray, order: float | None) -> None:
    """Recomputes, in place, norms that underflowed to 0 or overflowed to inf.

    Squares of tiny (< 1e-19 in float32) or huge (> 1e19) values leave the float
    range, so Keras 2.2.4 left such vectors unchanged or returned zeros. A norm
    scales with its vector, so those vectors are measured divided by their
    largest magnitude and the norm is scaled back.
    """
    extreme = (norms == 0) | np.isinf(norms)
    if not extreme.any():
        return
    magnitudes = np.abs(vectors[extreme]).astype(norms.dtype, copy=False)
    scale = magnitudes.max(axis=-1)
    usable = np.isfinite(scale) & (scale > 0)  # all-zero vectors really have norm 0
    scale = scale[usable]
    rescaled = np.linalg.norm(magnitudes[usable] / scale[:, np.newaxis], ord=order, axis=-1) * scale
    norms.reshape(-1)[np.flatnonzero(extreme)[usable]] = rescaled
