"""The test module of a small custom-layer package, as Keras 2 projects wrote them.

Each layer goes through Keras' own `layer_test`; tests are decorated with
`keras_test` (Keras 2.1 / 2.2.0 style) and the module runs itself with pytest.
"""
# kutils-script: lines=keras3,tf_keras

import numpy as np
import pytest
import tensorflow as tf
from numpy.testing import assert_allclose
from tensorflow.keras import backend as K
from tensorflow.keras.layers import Layer
from kutils.test_utils import get_test_data, keras_test, layer_test  # was: from keras.utils.test_utils import get_test_data, keras_test, layer_test


class PReLU2(Layer):
    """Parametric ReLU with one slope per feature."""

    def __init__(self, alpha_initializer="zeros", **kwargs):
        super(PReLU2, self).__init__(**kwargs)
        self.alpha_initializer = alpha_initializer

    def build(self, input_shape):
        self.alpha = self.add_weight(name="alpha", shape=(input_shape[-1],), initializer=self.alpha_initializer)
        super(PReLU2, self).build(input_shape)

    def call(self, inputs):
        # Keras 3: K.relu is gone from keras.backend; tf.nn.relu is the same on TensorFlow.
        return tf.nn.relu(inputs) - self.alpha * tf.nn.relu(-inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = {"alpha_initializer": self.alpha_initializer}
        base_config = super(PReLU2, self).get_config()
        return dict(list(base_config.items()) + list(config.items()))


class GaussianNoise2(Layer):
    """Adds noise in training only."""

    def __init__(self, stddev, **kwargs):
        super(GaussianNoise2, self).__init__(**kwargs)
        self.stddev = stddev

    def call(self, inputs, training=None):
        # Keras 3: K.in_train_phase and K.random_normal are gone; tf ops do the same.
        if training:
            return inputs + tf.random.normal(tf.shape(inputs), stddev=self.stddev)
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = {"stddev": self.stddev}
        base_config = super(GaussianNoise2, self).get_config()
        return dict(list(base_config.items()) + list(config.items()))


class Pool1DMax(Layer):
    """Max over the time axis: (batch, steps, features) -> (batch, features)."""

    def call(self, inputs):
        return tf.reduce_max(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras_test
def test_prelu2():
    layer_test(PReLU2, kwargs={}, input_shape=(2, 3, 4))
    data = np.array([[-2.0, 3.0]], dtype=K.floatx())
    layer_test(PReLU2, kwargs={"alpha_initializer": "ones"}, input_data=data, expected_output=np.array([[-2.0, 3.0]]))


@keras_test
def test_gaussian_noise2():
    out = layer_test(GaussianNoise2, kwargs={"stddev": 1.0}, input_shape=(3, 2, 3))
    assert out.shape[0] == 3


@keras_test
@pytest.mark.parametrize("steps", [None, 5])
def test_pool1d_max(steps):
    data = np.arange(2 * 5 * 3, dtype="float32").reshape((2, 5, 3))
    layer_test(Pool1DMax, input_data=data, expected_output=data.max(axis=1))
    layer_test(Pool1DMax, input_shape=(2, steps, 3))


@keras_test
def test_wrong_shape_is_caught():
    class Broken(Pool1DMax):
        def compute_output_shape(self, input_shape):
            return input_shape

    with pytest.raises(AssertionError):
        layer_test(Broken, input_shape=(2, 5, 3))


@keras_test
def test_get_test_data():
    np.random.seed(1337)
    (x_train, y_train), (x_test, y_test) = get_test_data(
        num_train=100, num_test=20, input_shape=(4,), classification=True, num_classes=3
    )
    assert x_train.shape == (100, 4)
    assert x_test.shape == (20, 4)
    assert y_train.shape == (100,)
    assert set(np.unique(y_train)) <= {0, 1, 2}
    assert_allclose([x_train[y_train == k].mean() for k in range(3)], [0, 1, 2], atol=0.4)


if __name__ == "__main__":
    # Keras 2 test modules ended with pytest.main([__file__]); its exit status is passed on here.
    raise SystemExit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
