"""Tests for kutils.get_source_inputs, convert_all_kernels_in_model, convert_dense_weights_data_format."""

from __future__ import annotations

import _summary_support as models
import numpy as np
import pytest

import kutils
from kutils import layer_utils
from kutils._introspect import ModelNotBuiltError
from kutils.layer_ops import (
    InvalidDataFormatError,
    convert_all_kernels_in_model,
    convert_dense_weights_data_format,
    get_source_inputs,
)


def _same(found, expected) -> bool:
    return len(found) == len(expected) and all(f is e for f, e in zip(found, expected, strict=True))


def test_get_source_inputs_matches_keras_on_a_multi_input_graph():
    """The sources of each output are the model inputs, as keras.utils.get_source_inputs finds them."""
    keras = models.keras_module()
    model = models.multi_io()
    for output in model.outputs:
        found = get_source_inputs(output)
        assert _same(found, model.inputs)
        assert _same(found, keras.utils.get_source_inputs(output))


def test_get_source_inputs_of_an_input_and_of_a_plain_array():
    """An input tensor is its own source; a non-Keras value is returned unchanged (2.2.4)."""
    keras = models.keras_module()
    x = keras.Input((3,))
    assert _same(get_source_inputs(x), [x])
    array = np.ones(3)
    assert get_source_inputs(array) is array


def test_get_source_inputs_from_a_chosen_layer_call():
    """layer/node_index start the walk at that call of a shared layer."""
    model = models.multi_io()
    shared = model.get_layer("shared_dense")
    a, b = model.inputs
    tensor = shared._inbound_nodes[0].output_tensors[0]
    assert _same(get_source_inputs(tensor, shared, 1), [b])
    assert _same(get_source_inputs(tensor, shared), [a])


def test_get_source_inputs_bad_node_index_names_it():
    """A node_index that is not a call of the layer raises ValueError naming it and the valid range."""
    model = models.multi_io()
    shared = model.get_layer("shared_dense")
    with pytest.raises(ValueError, match=r"node_index=5 .*'shared_dense'.*0 to 1"):
        get_source_inputs(model.outputs[0], shared, 5)


def test_get_source_inputs_visits_each_node_once_on_deep_residual_graphs():
    """40 residual blocks (2**40 paths) resolve at once: every node is visited once, sources in order."""
    keras = models.keras_module()
    x = keras.Input((4,), name="x")
    y = keras.Input((4,), name="y")
    h = keras.layers.Add()([x, y])
    for _ in range(40):
        h = keras.layers.Add()([h, keras.layers.Dense(4)(h)])
    assert _same(get_source_inputs(h), [x, y])


def _conv_model():
    keras = models.keras_module()
    layers = keras.layers
    inner_in = keras.Input((6, 6, 2))
    inner = keras.Model(inner_in, layers.Conv2D(2, 3, padding="same", name="inner_conv")(inner_in))
    return keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            layers.Conv2D(3, (3, 2), padding="same", name="conv2d"),
            layers.Conv2DTranspose(2, (2, 3), padding="same", name="deconv"),
            inner,
            layers.SeparableConv2D(2, 3, padding="same", name="separable"),
            layers.Reshape((36, 2)),
            layers.Conv1D(2, 3, name="conv1d"),
            layers.Reshape((34, 2, 1)),
            layers.Reshape((34, 2, 1, 1)),
            layers.Conv3D(1, (3, 2, 1), name="conv3d"),
            layers.Flatten(),
            layers.Dense(2, name="dense"),
        ]
    )


def _path(weight) -> str:
    """`layer/kernel`: Keras 3's `path`, or a tf_keras variable's name without `:0`."""
    return getattr(weight, "path", None) or weight.name.split(":")[0]


def test_convert_all_kernels_flips_spatial_axes_of_conv_kernels_only():
    """Conv1D/2D/3D/Conv2DTranspose kernels (nested ones too) get spatial axes reversed; the rest stay."""
    model = _conv_model()
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.weights])
    before = {_path(w): np.asarray(w).copy() for w in model.weights}
    convert_all_kernels_in_model(model)
    flipped = {"conv2d/kernel", "deconv/kernel", "inner_conv/kernel", "conv1d/kernel", "conv3d/kernel"}
    for weight in model.weights:
        old, new = before[_path(weight)], np.asarray(weight)
        if "/".join(_path(weight).split("/")[-2:]) in flipped:
            spatial = tuple(range(old.ndim - 2))
            np.testing.assert_array_equal(new, np.flip(old, axis=spatial))
        else:
            np.testing.assert_array_equal(new, old)
    assert {"/".join(_path(w).split("/")[-2:]) for w in model.weights} >= flipped
    convert_all_kernels_in_model(model)
    for weight in model.weights:
        np.testing.assert_array_equal(np.asarray(weight), before[_path(weight)])


def test_convert_all_kernels_turns_correlation_into_convolution():
    """After conversion, the Conv1D output equals a true convolution (np.convolve) with the old kernel."""
    keras = models.keras_module()
    model = keras.Sequential([keras.Input((8, 1)), keras.layers.Conv1D(1, 3, use_bias=False)])
    kernel = np.array([1.0, 2.0, 5.0], "float32")
    model.set_weights([kernel.reshape(3, 1, 1)])
    signal = np.arange(8, dtype="float32")
    convert_all_kernels_in_model(model)
    out = model.predict(signal.reshape(1, 8, 1), verbose=0).ravel()
    np.testing.assert_allclose(out, np.convolve(signal, kernel, mode="valid"))


def test_convert_all_kernels_rejects_a_non_model():
    """A value that is not a Keras model raises TypeError naming its type."""
    with pytest.raises(TypeError, match="got ndarray"):
        convert_all_kernels_in_model(np.zeros((3, 3)))


def test_convert_all_kernels_needs_a_built_model():
    """An unbuilt model raises ModelNotBuiltError (a ValueError) naming it."""
    keras = models.keras_module()
    with pytest.raises(ModelNotBuiltError, match="'unbuilt_convs'"):
        convert_all_kernels_in_model(keras.Sequential([keras.layers.Conv2D(1, 3)], name="unbuilt_convs"))


@pytest.mark.parametrize(
    ("target", "fmap_last", "to_target"),
    [
        ("channels_first", (2, 3, 4), (2, 0, 1)),  # (h, w, c) -> (c, h, w)
        ("channels_first", (5, 3), (1, 0)),  # 1-D maps: (steps, c) -> (c, steps)
        ("channels_last", (4, 2, 3), (1, 2, 0)),  # (c, h, w) -> (h, w, c)
    ],
)
def test_dense_after_flatten_gives_same_outputs_in_new_layout(target, fmap_last, to_target):
    """Flattening the re-laid-out feature map through the converted Dense gives the same outputs."""
    keras = models.keras_module()
    rng = np.random.default_rng(1)
    fmap = rng.normal(size=(7, *fmap_last)).astype("float32")  # a batch of 7 maps in the old layout
    new_fmap = np.transpose(fmap, (0, *(a + 1 for a in to_target)))
    dense = keras.layers.Dense(5)
    dense.build((None, fmap[0].size))
    dense.set_weights([rng.normal(size=w.shape).astype("float32") for w in dense.weights])
    expected = np.asarray(dense(fmap.reshape(7, -1)))
    bias = dense.get_weights()[1].copy()
    convert_dense_weights_data_format(dense, new_fmap.shape[1:], target)
    np.testing.assert_allclose(np.asarray(dense(new_fmap.reshape(7, -1))), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(dense.get_weights()[1], bias)


def test_dense_without_bias_is_converted():
    """A Dense with use_bias=False (one weight) converts too."""
    keras = models.keras_module()
    dense = keras.layers.Dense(1, use_bias=False)
    dense.build((None, 4))
    dense.set_weights([np.arange(4, dtype="float32").reshape(4, 1)])
    convert_dense_weights_data_format(dense, (2, 2, 1), "channels_first")  # (c=2, h=2, w=1)
    # Old rows follow (h, w, c) = index h*2 + c; new rows follow (c, h, w) = index c*2 + h.
    np.testing.assert_array_equal(dense.get_weights()[0].ravel(), [0, 2, 1, 3])


def test_bad_data_format_raises_value_and_assertion_error():
    """An unknown target_data_format raises InvalidDataFormatError naming it (2.2.4 asserted)."""
    keras = models.keras_module()
    dense = keras.layers.Dense(1)
    dense.build((None, 4))
    with pytest.raises(InvalidDataFormatError, match="'channels_middle'") as info:
        convert_dense_weights_data_format(dense, (1, 2, 2), "channels_middle")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, AssertionError)


def test_shape_that_does_not_fit_the_kernel_raises():
    """A feature-map shape whose size is not the kernel's input size raises ValueError naming both."""
    keras = models.keras_module()
    dense = keras.layers.Dense(1)
    dense.build((None, 12))
    with pytest.raises(ValueError, match=r"\(2, 2, 2\).*input size 12"):
        convert_dense_weights_data_format(dense, (2, 2, 2))


def test_public_names_and_keras2_paths():
    """The functions are reachable from kutils and kutils.layer_utils, as in Keras 2.2.4."""
    assert kutils.get_source_inputs is get_source_inputs is layer_utils.get_source_inputs
    assert kutils.convert_all_kernels_in_model is convert_all_kernels_in_model
    assert layer_utils.convert_dense_weights_data_format is convert_dense_weights_data_format
