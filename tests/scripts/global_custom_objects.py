"""Custom activation and layer registered once in the global custom-object table, then used by name.

The Keras 2 way: `get_custom_objects().update(...)` at import time, after
which `Dense(..., activation='swish')`, `activations.get('swish')` and a
plain `load_model('model.h5')` find the custom objects without any scope.
"""
# kutils-script: lines=keras3,tf_keras

import numpy as np
import tensorflow as tf
from tensorflow.keras import activations
from tensorflow.keras.layers import Dense, Layer
from tensorflow.keras.models import Sequential, load_model
from kutils import get_custom_objects  # was: from keras.utils.generic_utils import get_custom_objects


def swish(x):
    # Keras 3: K.sigmoid is gone from keras.backend; tf.sigmoid is the same on TensorFlow.
    return x * tf.sigmoid(x)


class Scale(Layer):
    def __init__(self, factor=2.0, **kwargs):
        super(Scale, self).__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super(Scale, self).get_config()
        config["factor"] = self.factor
        return config


get_custom_objects().update({"swish": swish, "Scale": Scale})

assert activations.get("swish") is swish
model = Sequential([Dense(8, activation="swish", input_shape=(4,)), Scale(0.5), Dense(1)])
model.compile(optimizer="adam", loss="mean_squared_error")  # Keras 3: was loss="mse"; Keras 3.15 cannot load that alias back from .h5
x = np.random.RandomState(0).normal(size=(64, 4)).astype("float32")
model.fit(x, x.sum(axis=1, keepdims=True), epochs=2, verbose=0)
model.save("model.h5")

restored = load_model("model.h5")
np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)
assert restored.layers[0].activation is swish
assert isinstance(restored.layers[1], Scale) and restored.layers[1].factor == 0.5

# Removing a name removes it everywhere again: the file no longer loads.
del get_custom_objects()["Scale"]
try:
    load_model("model.h5")
except (ValueError, TypeError) as error:
    print("after removal:", str(error).splitlines()[0][:100])
else:
    raise AssertionError("'Scale' still found after removal")
print("ok")
