"""Tests for kutils.array_ops: to_categorical, normalize, to_list, slice_arrays."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kutils.array_ops import normalize, slice_arrays, to_categorical, to_list

PROPERTY = settings(max_examples=60, deadline=None)


def reference_one_hot(labels: np.ndarray, num_classes: int, dtype: object = "float32") -> np.ndarray:
    """One-hot by the Keras 2.2.4 shape rules, via an identity matrix lookup."""
    labels = np.asarray(labels).astype(np.int64)
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    return np.eye(num_classes, dtype=dtype)[labels.reshape(shape)]


def reference_normalize(x: np.ndarray, axis: int, order: float) -> np.ndarray:
    """The Keras 2.2.4 formula, with the norm taken in float64."""
    norms = np.atleast_1d(np.linalg.norm(np.asarray(x, dtype=np.float64), order, axis))
    norms[norms == 0] = 1
    return x / np.expand_dims(norms, axis)


label_arrays = hnp.arrays(
    dtype=st.sampled_from([np.int8, np.int32, np.int64, np.uint8, np.uint64]),
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
    elements=st.integers(0, 9),
)


# --- to_categorical: results -------------------------------------------------------------------


@PROPERTY
@given(
    labels=label_arrays,
    extra_classes=st.integers(0, 3),
    dtype=st.sampled_from(["float32", "float64", "float16", "int8", "uint8", "bool"]),
)
def test_to_categorical_matches_identity_lookup(labels, extra_classes, dtype):
    """to_categorical equals an identity-matrix lookup for any integer dtype, rank and output dtype."""
    num_classes = 10 + extra_classes
    result = to_categorical(labels, num_classes, dtype)
    expected = reference_one_hot(labels, num_classes, dtype)
    assert result.dtype == np.dtype(dtype)
    assert result.shape == expected.shape
    np.testing.assert_array_equal(result, expected)


@PROPERTY
@given(
    labels=hnp.arrays(
        np.int64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1), elements=st.integers(0, 20)
    )
)
def test_to_categorical_infers_max_plus_one_classes(labels):
    """Without num_classes the class count is max(y) + 1, as in Keras 2.2.4."""
    result = to_categorical(labels)
    assert result.shape[-1] == labels.max() + 1
    np.testing.assert_array_equal(result, reference_one_hot(labels, int(labels.max()) + 1))


@PROPERTY
@given(
    labels=label_arrays.filter(lambda a: a.size > 0),
    as_float=st.sampled_from([np.float16, np.float32, np.float64]),
)
def test_to_categorical_accepts_integral_floats(labels, as_float):
    """Floats holding whole numbers (2.0) encode like the integers they hold."""
    np.testing.assert_array_equal(to_categorical(labels.astype(as_float), 10), to_categorical(labels, 10))


@pytest.mark.parametrize(
    ("labels", "shape"),
    [
        ([0, 2, 1], (3, 3)),
        ([[1], [2]], (2, 3)),
        ([[1, 2]], (1, 2, 3)),
        (np.zeros((2, 3, 1), dtype=int), (2, 3, 1)),
        (2, (3,)),
        (np.array([[[1]]]), (1, 1, 2)),
    ],
)
def test_to_categorical_keeps_keras_224_shapes(labels, shape):
    """The trailing axis of size 1 is dropped only when ndim > 1; a scalar gives (num_classes,)."""
    assert to_categorical(labels).shape == shape


def test_to_categorical_default_dtype_is_float32():
    """The default result dtype is float32 (Keras 3 returns float64)."""
    assert to_categorical([0, 1]).dtype == np.float32


def test_to_categorical_scalar_label_row():
    """A single label gives one one-hot row."""
    np.testing.assert_array_equal(to_categorical(2), np.array([0, 0, 1], dtype=np.float32))


def test_to_categorical_booleans_are_zero_and_one():
    """Booleans count as 0 and 1, as in Keras 2.2.4."""
    np.testing.assert_array_equal(to_categorical([True, False]), reference_one_hot(np.array([1, 0]), 2))


@pytest.mark.parametrize("labels", [["1", "0", "2"], np.array([b"1", b"0", b"2"]), [" 1", "0", "+2"]])
def test_to_categorical_parses_integer_strings(labels):
    """Integer strings are parsed like Keras 2.2.4's int cast did."""
    np.testing.assert_array_equal(to_categorical(labels), reference_one_hot(np.array([1, 0, 2]), 3))


def test_to_categorical_accepts_python_numbers_in_object_arrays():
    """An object array of Python numbers (e.g. Fractions equal to integers) is accepted."""
    labels = np.array([Fraction(2, 1), 1, 0.0], dtype=object)
    np.testing.assert_array_equal(to_categorical(labels), reference_one_hot(np.array([2, 1, 0]), 3))


@pytest.mark.parametrize("labels", [[], np.zeros((0,), dtype=int), np.zeros((0, 1), dtype=np.float32)])
def test_to_categorical_empty_with_num_classes(labels):
    """Empty labels with num_classes give an empty (0, num_classes) array."""
    result = to_categorical(labels, num_classes=4)
    assert result.shape == (0, 4)
    assert result.dtype == np.float32


def test_to_categorical_num_classes_zero_means_infer():
    """num_classes=0 is treated as None, like Keras 2.2.4."""
    np.testing.assert_array_equal(to_categorical([1, 2], num_classes=0), to_categorical([1, 2]))


def test_to_categorical_accepts_numpy_integer_num_classes():
    """num_classes may be a NumPy integer, e.g. the result of y.max() + 1."""
    assert to_categorical([0, 1], num_classes=np.int64(5)).shape == (2, 5)


def test_to_categorical_does_not_modify_input():
    """The input labels are left untouched."""
    labels = np.array([[2], [0]], dtype=np.int32)
    to_categorical(labels)
    np.testing.assert_array_equal(labels, np.array([[2], [0]], dtype=np.int32))


def test_to_categorical_tensor_input_returns_numpy():
    """A TensorFlow tensor is accepted and the result is a NumPy array."""
    import tensorflow as tf

    result = to_categorical(tf.constant([[0], [2], [1]]), num_classes=3)
    assert isinstance(result, np.ndarray)
    np.testing.assert_array_equal(result, reference_one_hot(np.array([0, 2, 1]), 3))


# --- to_categorical: errors --------------------------------------------------------------------


def test_to_categorical_rejects_negative_labels_naming_them():
    """Negative labels (2.2.4 wrapped -1 to the last class) raise ValueError naming them and their count."""
    with pytest.raises(ValueError, match=r"2 negative label\(s\): \[-1, -3\]"):
        to_categorical([0, -1, 2, -3], num_classes=4)


@PROPERTY
@given(labels=label_arrays.filter(lambda a: a.size > 0), data=st.data())
def test_to_categorical_rejects_any_negative_label(labels, data):
    """A single negative label anywhere is always reported with its value."""
    signed = labels.astype(np.int64)
    position = data.draw(st.integers(0, signed.size - 1))
    bad = data.draw(st.integers(-1000, -1))
    signed.reshape(-1)[position] = bad
    with pytest.raises(ValueError, match=rf"1 negative label\(s\): \[{bad}\]"):
        to_categorical(signed, num_classes=10)


def test_to_categorical_rejects_labels_beyond_num_classes():
    """Labels >= num_classes raise ValueError naming a few of them and how many."""
    labels = list(range(10))
    with pytest.raises(ValueError, match=r"7 label\(s\) >= num_classes=3: \[3, 4, 5, 6, 7\] \.\.\."):
        to_categorical(labels, num_classes=3)


@pytest.mark.parametrize("labels", [[1e20, 0.0], np.array([2**63 + 5, 0], dtype=np.uint64)])
def test_to_categorical_rejects_huge_labels_before_casting(labels):
    """Labels too large for an index are reported as >= num_classes, not wrapped by the integer cast."""
    with pytest.raises(ValueError, match=r"1 label\(s\) >= num_classes=3"):
        to_categorical(labels, num_classes=3)


def test_to_categorical_rejects_fractional_labels():
    """Fractional labels (2.2.4 truncated 1.7 to 1) raise ValueError naming them."""
    with pytest.raises(ValueError, match=r"2 non-integer label\(s\): \[0\.5, 1\.7\]"):
        to_categorical([0.5, 1.0, 1.7])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_to_categorical_rejects_nan_and_infinity(bad):
    """NaN and infinite labels raise ValueError naming the value."""
    with pytest.raises(ValueError, match=rf"1 NaN or infinite label\(s\): \[{re.escape(str(bad))}\]"):
        to_categorical([0.0, bad, 1.0], num_classes=3)


def test_to_categorical_rejects_non_integer_strings():
    """Strings that are not integers raise ValueError naming them."""
    with pytest.raises(ValueError, match=r"2 non-integer string\(s\): \['cat', '1\.5'\]"):
        to_categorical(["1", "cat", "1.5"])


def test_to_categorical_rejects_non_numeric_objects():
    """None and other non-numbers raise ValueError naming them."""
    with pytest.raises(ValueError, match=r"1 non-numeric value\(s\): \[None\]"):
        to_categorical([1, None])


def test_to_categorical_rejects_ragged_labels():
    """Ragged nested lists raise ValueError saying the labels are not rectangular."""
    with pytest.raises(ValueError, match="rectangular"):
        to_categorical([[0, 1], [1]])


@pytest.mark.parametrize("labels", [np.array([1 + 2j]), np.array(["2020-01-01"], dtype="datetime64[D]")])
def test_to_categorical_rejects_non_label_dtypes(labels):
    """Complex numbers and dates raise ValueError naming the dtype."""
    with pytest.raises(ValueError, match=re.escape(str(labels.dtype))):
        to_categorical(labels)


def test_to_categorical_rejects_empty_without_num_classes():
    """Empty labels without num_classes raise ValueError asking for num_classes."""
    with pytest.raises(ValueError, match="empty y; pass num_classes"):
        to_categorical([])


def test_to_categorical_rejects_negative_num_classes():
    """A negative num_classes raises ValueError naming it."""
    with pytest.raises(ValueError, match=r"num_classes=-2"):
        to_categorical([0], num_classes=-2)


@pytest.mark.parametrize("num_classes", [2.5, 3.0, True, "3", [3]])
def test_to_categorical_rejects_non_integer_num_classes(num_classes):
    """A num_classes that is not an integer (floats, bools, strings) raises TypeError naming it."""
    with pytest.raises(TypeError, match=re.escape(f"num_classes={num_classes!r}")):
        to_categorical([0], num_classes=num_classes)


# --- normalize ---------------------------------------------------------------------------------


float_arrays = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6),
    elements=st.floats(-1e3, 1e3, width=32, allow_subnormal=False),
)


@PROPERTY
@given(x=float_arrays, data=st.data(), order=st.sampled_from([2, 1, np.inf, 3, None]))
def test_normalize_matches_keras_224_formula(x, data, order):
    """normalize equals the 2.2.4 formula for any shape, axis and order, keeping the float dtype."""
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    result = normalize(x, axis=axis, order=order)
    expected = reference_normalize(x, axis, 2 if order is None else order)
    assert result.dtype == x.dtype
    assert result.shape == expected.shape
    tolerance = 1e-5 if x.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(result, expected, rtol=tolerance, atol=tolerance)


@PROPERTY
@given(
    x=hnp.arrays(
        dtype=st.sampled_from([np.int8, np.int32, np.int64, np.uint16, np.bool_]),
        shape=hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=5),
    ),
    order=st.sampled_from([2, 1, np.inf]),
)
def test_normalize_integers_give_float64(x, order):
    """Integer and boolean input gives float64 results equal to the 2.2.4 formula."""
    result = normalize(x, order=order)
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, reference_normalize(x.astype(np.float64), -1, order), rtol=1e-12)


def test_normalize_zero_vectors_stay_zero():
    """Rows whose norm is 0 come back unchanged (all zeros)."""
    x = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(normalize(x), np.array([[0.6, 0.8], [0.0, 0.0]], dtype=np.float32))


def test_normalize_axis_zero_on_non_square_input():
    """axis=0 normalizes columns (Keras 3.15 raised or gave wrong numbers here)."""
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    result = normalize(x, axis=0)
    np.testing.assert_allclose(np.linalg.norm(result, axis=0), np.ones(4))
    np.testing.assert_allclose(result, x / np.linalg.norm(x, axis=0, keepdims=True))


def test_normalize_one_dimensional_gains_leading_axis():
    """A 1-D (n,) input gives (1, n), as in Keras 2.2.4."""
    result = normalize(np.array([3.0, 4.0]))
    assert result.shape == (1, 2)
    np.testing.assert_allclose(result, [[0.6, 0.8]])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble])
def test_normalize_keeps_float_dtype(dtype):
    """Float input keeps its dtype."""
    assert normalize(np.ones((2, 3), dtype=dtype)).dtype == dtype


def test_normalize_float16_large_values_do_not_overflow():
    """float16 vectors whose squares exceed the float16 range still normalize correctly."""
    x = np.array([[300.0, 400.0]], dtype=np.float16)
    np.testing.assert_allclose(normalize(x), [[0.6, 0.8]], rtol=1e-3)


@pytest.mark.parametrize("scale", [1e-30, 1e-44, 1e20, 1e37])
@pytest.mark.parametrize("order", [2, 1, np.inf])
def test_normalize_float32_extreme_magnitudes(scale, order):
    """Tiny or huge float32 vectors, whose squares leave the float32 range, still come out normalized."""
    x = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32) * np.float32(scale)
    expected = reference_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]), -1, order)
    result = normalize(x, order=order)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=1e-5 if scale > 1e-40 else 0.2)


def test_normalize_complex_input():
    """Complex input is divided by its modulus norm and keeps its dtype."""
    x = np.array([[3j, 4.0]], dtype=np.complex64)
    result = normalize(x)
    assert result.dtype == np.complex64
    np.testing.assert_allclose(result, x / 5.0, rtol=1e-6)


def test_normalize_list_input_returns_numpy():
    """A nested list is accepted and a NumPy array comes back (Keras 3 returned a tensor)."""
    result = normalize([[3.0, 4.0]])
    assert isinstance(result, np.ndarray)
    np.testing.assert_allclose(result, [[0.6, 0.8]])


def test_normalize_tensor_input_returns_numpy():
    """A TensorFlow tensor is accepted and a NumPy array of its dtype comes back."""
    import tensorflow as tf

    result = normalize(tf.constant([[3.0, 4.0], [0.0, 1.0]]))
    assert isinstance(result, np.ndarray)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, [[0.6, 0.8], [0.0, 1.0]], rtol=1e-6)


def test_normalize_does_not_modify_input():
    """The input array is left untouched."""
    x = np.array([[3.0, 4.0]])
    normalize(x)
    np.testing.assert_array_equal(x, [[3.0, 4.0]])


@pytest.mark.parametrize("axis", [2, -3])
def test_normalize_rejects_out_of_range_axis(axis):
    """An axis outside x raises AxisError (a ValueError and IndexError) naming the axis."""
    with pytest.raises(np.exceptions.AxisError, match=rf"axis={axis} is out of range") as caught:
        normalize(np.ones((2, 2)), axis=axis)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, IndexError)


@pytest.mark.parametrize("axis", [None, 1.0, (0, 1), True])
def test_normalize_rejects_non_integer_axis(axis):
    """A non-integer axis raises ValueError naming it."""
    with pytest.raises(ValueError, match=re.escape(f"axis={axis!r}")):
        normalize(np.ones((2, 2)), axis=axis)


def test_normalize_rejects_scalar_input():
    """A 0-d input has no axis to normalize along: AxisError naming the axis."""
    with pytest.raises(np.exceptions.AxisError, match="axis=-1"):
        normalize(np.float64(3.0))


@pytest.mark.parametrize("order", ["fro", "nuc", True, float("nan"), [2]])
def test_normalize_rejects_invalid_order(order):
    """An order that is not a real number raises ValueError naming it."""
    with pytest.raises(ValueError, match=re.escape(f"order={order!r}")):
        normalize(np.ones((2, 2)), order=order)


def test_normalize_rejects_non_numeric_input():
    """Strings raise TypeError naming the dtype."""
    with pytest.raises(TypeError, match="dtype <U1"):
        normalize([["a", "b"]])


# --- to_list / slice_arrays --------------------------------------------------------------------


def test_to_list_keeps_lists_and_wraps_other_values():
    """A list comes back as the same object; anything else is wrapped in a list of one."""
    items = [1, 2]
    array = np.arange(3)
    assert to_list(items) is items
    assert to_list(array)[0] is array
    assert to_list(None) == [None]


def test_to_list_tuples():
    """A tuple is wrapped unless allow_tuple=True, which turns it into a list."""
    assert to_list((1, 2)) == [(1, 2)]
    assert to_list((1, 2), allow_tuple=True) == [1, 2]


def test_slice_arrays_none_gives_list_of_none():
    """None slices to [None], as in Keras 2.2.4."""
    assert slice_arrays(None, 0, 2) == [None]


def test_slice_arrays_list_of_arrays_with_range():
    """Each array of a list is sliced by start:stop; None items stay None."""
    a, b = np.arange(10), np.arange(20).reshape(10, 2)
    sliced = slice_arrays([a, None, b], 2, 5)
    np.testing.assert_array_equal(sliced[0], a[2:5])
    assert sliced[1] is None
    np.testing.assert_array_equal(sliced[2], b[2:5])


def test_slice_arrays_list_of_arrays_with_indices():
    """A list or array of indices picks those rows from each array."""
    a, b = np.arange(10), np.arange(10) * 10
    for indices in ([3, 1], np.array([3, 1])):
        sliced = slice_arrays([a, b], indices)
        np.testing.assert_array_equal(sliced[0], [3, 1])
        np.testing.assert_array_equal(sliced[1], [30, 10])


def test_slice_arrays_single_array():
    """A single array is sliced by range or indices (2.2.4 returned [None] for an integer start)."""
    a = np.arange(10)
    np.testing.assert_array_equal(slice_arrays(a, 2, 4), a[2:4])
    np.testing.assert_array_equal(slice_arrays(a, 7), a[7:])
    np.testing.assert_array_equal(slice_arrays(a), a)
    np.testing.assert_array_equal(slice_arrays(a, np.array([0, 9])), [0, 9])


def test_slice_arrays_passes_plain_list_indices_to_arrays():
    """Index arrays are handed over as plain lists (what HDF5 datasets accept)."""
    seen = []

    class Recorder:
        def __getitem__(self, key):
            seen.append(key)
            return key

    slice_arrays(Recorder(), np.array([4, 2]))
    assert seen == [[4, 2]]
    assert type(seen[0]) is list


def test_slice_arrays_rejects_stop_with_indices():
    """stop must be None when start holds indices: ValueError naming stop."""
    with pytest.raises(ValueError, match="stop=3"):
        slice_arrays([np.arange(5)], [0, 1], 3)
