"""Tests for kutils.test_utils: layer_test, get_test_data and keras_test on the active Keras line.

The custom layers below are written the Keras 2.2.4 way (build / call /
compute_output_shape / get_config), as the test suites of custom-layer
projects wrote them; the only Keras 3 difference is the base class module.
"""

from __future__ import annotations

import numpy as np
import pytest

from kutils._keras import import_keras, import_tensorflow
from kutils.errors import KutilsError, LayerTestError
from kutils.test_utils import get_test_data, keras_test, layer_test

keras = import_keras()
tf = import_tensorflow()


class Scale(keras.layers.Layer):
    """Multiplies each feature by a trainable factor and adds `offset` (a 2.2.4-style custom layer)."""

    def __init__(self, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.offset = offset

    def build(self, input_shape):
        self.factor = self.add_weight(name="factor", shape=(input_shape[-1],), initializer="ones")
        super().build(input_shape)

    def call(self, inputs):
        return inputs * self.factor + self.offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "offset": self.offset}


class Pairs(keras.layers.Layer):
    """Dense-like layer with `units` outputs; `forget_units` makes its get_config drop `units`."""

    def __init__(self, units=2, forget_units=False, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.forget_units = forget_units

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units))
        super().build(input_shape)

    def call(self, inputs):
        return tf.matmul(inputs, self.kernel)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        config = {**super().get_config(), "forget_units": self.forget_units}
        if not self.forget_units:
            config["units"] = self.units
        return config


class WrongShape(Scale):
    """Declares one more feature than it outputs."""

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


class Half(keras.layers.Layer):
    """Outputs float16 whatever its input."""

    def call(self, inputs):
        return tf.cast(inputs, "float16")


TRAINING_CALLS: list[object] = []


class NoisyScale(Scale):
    """Takes a `training` argument, as Dropout-like layers do; records the values it was traced with."""

    def call(self, inputs, training=None):
        TRAINING_CALLS.append(training)
        return super().call(inputs)


def test_a_keras_2_custom_layer_passes_and_its_output_is_returned():
    """A correct, unregistered custom layer passes every check; the functional output is returned."""
    data = np.arange(12, dtype="float32").reshape((3, 4))
    output = layer_test(Scale, kwargs={"offset": 1.5}, input_data=data, expected_output=data + 1.5)
    np.testing.assert_allclose(output, data + 1.5)


@pytest.mark.parametrize(
    ("layer_cls", "kwargs", "input_shape"),
    [
        ("Dense", {"units": 3}, (2, 4)),
        ("Conv2D", {"filters": 2, "kernel_size": (3, 3), "padding": "same"}, (2, 5, 5, 3)),
        ("Dropout", {"rate": 0.5}, (2, 4)),
        ("BatchNormalization", {}, (3, 4)),
        ("LSTM", {"units": 2}, (2, None, 3)),
    ],
)
def test_builtin_layers_pass(layer_cls, kwargs, input_shape):
    """Keras' own layers pass, including a variable time axis (None gets a random size)."""
    output = layer_test(getattr(keras.layers, layer_cls), kwargs=kwargs, input_shape=input_shape)
    assert output.shape[0] == input_shape[0]


def test_integer_input_and_output_dtype():
    """input_dtype and expected_output_dtype are honoured (Embedding: int32 in, float32 out)."""
    output = layer_test(
        keras.layers.Embedding,
        kwargs={"input_dim": 10, "output_dim": 3},
        input_shape=(2, 5),
        input_dtype="int32",
        expected_output_dtype="float32",
    )
    assert output.shape == (2, 5, 3)


def test_fixed_batch_size():
    """fixed_batch_size=True builds the model input with the batch size of input_shape."""
    output = layer_test(Scale, input_shape=(3, 2), fixed_batch_size=True)
    assert output.shape == (3, 2)


def test_wrong_declared_shape_fails():
    """A compute_output_shape that disagrees with the real output fails, naming both shapes."""
    with pytest.raises(LayerTestError, match=r"outputs shape \(2, 3\); its declared shape is \(2, 4\)"):
        layer_test(WrongShape, input_shape=(2, 3))


def test_wrong_expected_output_fails():
    """An output that is not expected_output fails as an AssertionError (like 2.2.4's assert_allclose)."""
    data = np.ones((2, 3), "float32")
    with pytest.raises(AssertionError, match="output differs from expected_output") as caught:
        layer_test(Scale, input_data=data, expected_output=data * 3)
    assert isinstance(caught.value, KutilsError)


def test_wrong_output_dtype_fails():
    """An output of another dtype than expected fails, naming both dtypes."""
    with pytest.raises(LayerTestError, match="outputs dtype float16 on float32 input; expected float32"):
        layer_test(Half, input_shape=(2, 3))


def test_incomplete_get_config_fails():
    """A get_config that drops an __init__ argument rebuilds a different layer: that fails the test."""
    layer_test(Pairs, kwargs={"units": 3}, input_shape=(2, 4))
    with pytest.raises(LayerTestError, match="does get_config return every __init__ argument"):
        layer_test(Pairs, kwargs={"units": 3, "forget_units": True}, input_shape=(2, 4))


def test_a_layer_taking_training_is_trained():
    """A layer whose call takes `training` is trained for a batch (traced with training=True)."""
    TRAINING_CALLS.clear()
    layer_test(NoisyScale, input_shape=(2, 3))
    assert True in TRAINING_CALLS


def test_kwargs_are_not_modified():
    """2.2.4 wrote `weights` into the caller's kwargs dict; kutils leaves it as it was."""

    class WithWeights(Scale):
        def __init__(self, weights=None, **kwargs):
            super().__init__(**kwargs)
            self.initial = weights

    kwargs = {"offset": 0.5}
    layer_test(WithWeights, kwargs=kwargs, input_shape=(2, 3))
    assert kwargs == {"offset": 0.5}


def test_missing_input_shape_and_data():
    """Neither input_shape nor input_data: a clear error instead of 2.2.4's bare assert."""
    with pytest.raises(LayerTestError, match="needs input_shape"):
        layer_test(Scale)


def test_get_test_data_classification():
    """Integer labels in range, float32 inputs centred on their label, the requested split sizes."""
    np.random.seed(1337)
    (x_train, y_train), (x_test, y_test) = get_test_data(
        num_train=300, num_test=100, input_shape=(4, 2), num_classes=3
    )
    assert x_train.shape == (300, 4, 2)
    assert x_test.shape == (100, 4, 2)
    assert y_train.shape == (300,)
    assert y_test.shape == (100,)
    assert x_train.dtype == np.float32
    assert set(np.unique(np.concatenate([y_train, y_test]))) == {0, 1, 2}
    for label in range(3):
        assert abs(x_train[y_train == label].mean() - label) < 0.2


def test_get_test_data_regression_and_seed():
    """Regression targets have output_shape and follow their input's centre; a seed reproduces the data."""
    np.random.seed(7)
    first = get_test_data(num_train=50, num_test=10, output_shape=(3,), classification=False)
    np.random.seed(7)
    second = get_test_data(num_train=50, num_test=10, output_shape=(3,), classification=False)
    (x_train, y_train), _ = first
    assert y_train.shape == (50, 3)
    assert y_train.dtype == np.float32
    np.testing.assert_array_equal(first[0][0], second[0][0])
    np.testing.assert_array_equal(first[1][1], second[1][1])
    correlation = np.corrcoef(x_train.mean(axis=1), y_train.mean(axis=1))[0, 1]
    assert correlation > 0.1


def test_keras_test_clears_the_session_after_the_test_even_when_it_fails():
    """Layer names restart after a @keras_test function, also one that raised."""

    @keras_test
    def makes_layers():
        keras.layers.Dense(1)
        return keras.layers.Dense(1).name

    @keras_test
    def fails():
        keras.layers.Dense(1)
        raise RuntimeError("boom")

    keras.backend.clear_session()
    assert makes_layers() == "dense_1"
    assert makes_layers.__name__ == "makes_layers"
    assert keras.layers.Dense(1).name == "dense"
    with pytest.raises(RuntimeError, match="boom"):
        fails()
    assert keras.layers.Dense(1).name == "dense"
