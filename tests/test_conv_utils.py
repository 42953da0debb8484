"""Tests for kutils.conv_utils: the Keras 2.2.4 convolution argument and shape helpers."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from _keras_lines import import_line

from kutils.conv_utils import (
    conv_input_length,
    conv_output_length,
    convert_kernel,
    deconv_length,
    normalize_data_format,
    normalize_padding,
    normalize_tuple,
)
from kutils.errors import ConvArgumentError, KutilsError

PREFIX = "The `kernel_size` argument must be a tuple of 2 integers. Received: "


def test_normalize_tuple_repeats_an_int_and_keeps_a_tuple():
    """An int becomes n copies; an iterable of n ints (NumPy ints too) becomes a tuple of Python ints."""
    assert normalize_tuple(3, 2, "kernel_size") == (3, 3)
    assert normalize_tuple([1, 2, 3], 3, "strides") == (1, 2, 3)
    result = normalize_tuple(np.array([4, 5]), 2, "pool_size")
    assert result == (4, 5)
    assert all(type(v) is int for v in result)
    assert normalize_tuple(np.int64(2), 3, "dilation_rate") == (2, 2, 2)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ((1, 2, 3), PREFIX + "(1, 2, 3)"),
        ("ab", PREFIX + "ab including element a"),
        (None, PREFIX + "None"),
        ((2.5, 3), PREFIX + "(2.5, 3) including element 2.5 of type <class 'float'>"),
        ((None, 3), PREFIX + "(None, 3) including element None of type <class 'NoneType'>"),
    ],
)
def test_normalize_tuple_refuses_what_is_not_n_integers(value, message):
    """Wrong length, non-iterables and non-integral elements raise a ValueError in 2.2.4's words.

    2.2.4 accepted 2.5 (int(2.5) works) and let int(None)'s TypeError escape.
    """
    with pytest.raises(ValueError, match="^" + _literal(message)) as caught:
        normalize_tuple(value, 2, "kernel_size")
    assert isinstance(caught.value, ConvArgumentError)
    assert isinstance(caught.value, KutilsError)


def test_normalize_padding_lowercases_and_checks():
    """'SAME' becomes 'same'; 'causal' is allowed; 'full' and non-strings raise 2.2.4's message."""
    assert normalize_padding("SAME") == "same"
    assert normalize_padding("Valid") == "valid"
    assert normalize_padding("causal") == "causal"
    expected = 'The `padding` argument must be one of "valid", "same" (or "causal" for Conv1D). Received: '
    with pytest.raises(ValueError, match="^" + _literal(expected + "full") + "$"):
        normalize_padding("FULL")
    with pytest.raises(ValueError, match=_literal(expected + "None")):
        normalize_padding(None)


def test_normalize_data_format():
    """Lower-cases a valid value, None reads the active Keras default, anything else is a ValueError."""
    from kutils._keras import import_keras

    assert normalize_data_format("Channels_First") == "channels_first"
    assert normalize_data_format(None) == import_keras().backend.image_data_format()
    with pytest.raises(
        ValueError,
        match=_literal('must be one of "channels_first", "channels_last". Received: channels_middle'),
    ):
        normalize_data_format("channels_middle")


@pytest.mark.parametrize("ndim", [3, 4, 5])
def test_convert_kernel_flips_spatial_axes_and_is_its_own_inverse(ndim):
    """Every axis but the last two is reversed; converting twice gives the kernel back; input untouched."""
    kernel = np.arange(np.prod((2, 3, 4, 5, 6)[:ndim])).reshape((2, 3, 4, 5, 6)[:ndim])
    original = kernel.copy()
    converted = convert_kernel(kernel)
    spatial = tuple(range(ndim - 2))
    np.testing.assert_array_equal(converted, np.flip(kernel, axis=spatial))
    np.testing.assert_array_equal(convert_kernel(converted), kernel)
    np.testing.assert_array_equal(kernel, original)
    assert not np.shares_memory(converted, kernel)


def test_convert_kernel_refuses_other_ranks():
    """A 2D or 6D kernel is a ValueError naming its shape."""
    with pytest.raises(ValueError, match=r"Invalid kernel shape: \(3, 3\)"):
        convert_kernel(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="Invalid kernel shape"):
        convert_kernel(np.zeros((1,) * 6))


def test_lengths_known_values():
    """Hand-computed lengths for each padding (the formulas of Keras 2.2.4)."""
    assert conv_output_length(10, 3, "valid", 1) == 8
    assert conv_output_length(10, 3, "same", 2) == 5
    assert conv_output_length(10, 3, "full", 1) == 12
    assert conv_output_length(10, 3, "causal", 1) == 10
    assert conv_output_length(10, 3, "valid", 1, dilation=2) == 6
    assert conv_input_length(8, 3, "valid", 1) == 10
    assert deconv_length(5, 2, 3, "valid", None) == 11
    assert deconv_length(5, 2, 3, "same", None) == 10
    assert deconv_length(5, 2, 3, "full", None) == 7
    assert deconv_length(5, 2, 3, "same", 1) == 10


def test_lengths_of_unknown_sizes_are_none():
    """An unknown (None) length stays unknown."""
    assert conv_output_length(None, 3, "same", 1) is None
    assert conv_input_length(None, 3, "same", 1) is None
    assert deconv_length(None, 2, 3, "same", None) is None


@pytest.mark.parametrize(
    "call",
    [
        lambda: conv_output_length(10, 3, "SAME", 1),
        lambda: conv_input_length(10, 3, "causal", 1),
        lambda: deconv_length(10, 2, 3, "causal", None),
    ],
)
def test_lengths_refuse_an_unknown_padding(call):
    """2.2.4 asserted (nothing under python -O); kutils raises a ValueError naming the padding."""
    with pytest.raises(ValueError, match="padding="):
        call()


def test_lengths_agree_with_tf_keras_conv_utils():
    """Over a grid of sizes, strides, dilations and paddings the results equal tf_keras' own helpers."""
    tk_conv = import_line("tf_keras.src.utils.conv_utils")
    grid = itertools.product(range(1, 9), range(1, 5), range(1, 4), range(1, 3))
    for length, size, stride, dilation in grid:
        for padding in ("valid", "same", "full", "causal"):
            assert conv_output_length(length, size, padding, stride, dilation) == (
                tk_conv.conv_output_length(length, size, padding, stride, dilation)
            )
        for padding in ("valid", "same", "full"):
            assert conv_input_length(length, size, padding, stride) == (
                tk_conv.conv_input_length(length, size, padding, stride)
            )
            for output_padding in (None, 0, stride - 1):
                assert deconv_length(length, stride, size, padding, output_padding, dilation) == (
                    tk_conv.deconv_output_length(length, size, padding, output_padding, stride, dilation)
                ), (length, stride, size, padding, output_padding, dilation)


def test_conv_output_length_matches_a_real_keras_conv_layer():
    """A Keras Conv1D's output length is what conv_output_length computes for it."""
    from kutils._keras import import_keras

    keras = import_keras()
    for padding, stride, dilation in [("valid", 2, 1), ("same", 3, 1), ("causal", 1, 2), ("valid", 1, 3)]:
        layer = keras.layers.Conv1D(1, 3, strides=stride, padding=padding, dilation_rate=dilation)
        out = layer(np.zeros((1, 11, 1), "float32"))
        assert out.shape[1] == conv_output_length(11, 3, padding, stride, dilation)


def _literal(text: str) -> str:
    return re.escape(text)
