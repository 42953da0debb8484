"""A custom 2D convolution layer built on conv_utils, trained, saved and loaded back.

Custom layers of Keras 2 projects normalised their arguments and computed
their output shapes with `keras.utils.conv_utils`; this one is a plain
convolution with an optional learned per-channel gain, in the usual
build / call / compute_output_shape / get_config shape.
"""
# kutils-script: lines=keras3,tf_keras

import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import backend as K
from tensorflow.keras.layers import Dense, Flatten, Input, Layer
from tensorflow.keras.models import Model, load_model
from kutils import conv_utils  # was: from keras.utils import conv_utils


class GainConv2D(Layer):
    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), use_gain=True, **kwargs):
        super(GainConv2D, self).__init__(**kwargs)
        self.filters = filters
        self.kernel_size = conv_utils.normalize_tuple(kernel_size, 2, "kernel_size")
        self.strides = conv_utils.normalize_tuple(strides, 2, "strides")
        self.padding = conv_utils.normalize_padding(padding)
        self.data_format = conv_utils.normalize_data_format(data_format)
        self.dilation_rate = conv_utils.normalize_tuple(dilation_rate, 2, "dilation_rate")
        self.use_gain = use_gain

    def build(self, input_shape):
        channel_axis = 1 if self.data_format == "channels_first" else -1
        input_dim = input_shape[channel_axis]
        kernel_shape = self.kernel_size + (input_dim, self.filters)
        self.kernel = self.add_weight(name="kernel", shape=kernel_shape, initializer="glorot_uniform")
        if self.use_gain:
            self.gain = self.add_weight(name="gain", shape=(self.filters,), initializer="ones")
        super(GainConv2D, self).build(input_shape)

    def call(self, inputs):
        # Keras 3: K.conv2d is gone from keras.backend; Keras 2.2.4's K.conv2d called tf.nn.convolution,
        # which also trains dilated kernels on CPUs without oneDNN (tf.nn.conv2d's gradient does not).
        outputs = tf.nn.convolution(inputs, self.kernel, strides=self.strides, padding=self.padding.upper(),
                                    dilations=self.dilation_rate,
                                    data_format="NHWC" if self.data_format == "channels_last" else "NCHW")
        if self.use_gain:
            outputs = outputs * self.gain
        return outputs

    def compute_output_shape(self, input_shape):
        if self.data_format == "channels_last":
            space = input_shape[1:-1]
        else:
            space = input_shape[2:]
        new_space = []
        for i in range(len(space)):
            new_dim = conv_utils.conv_output_length(space[i], self.kernel_size[i], padding=self.padding,
                                                    stride=self.strides[i], dilation=self.dilation_rate[i])
            new_space.append(new_dim)
        if self.data_format == "channels_last":
            return (input_shape[0],) + tuple(new_space) + (self.filters,)
        return (input_shape[0], self.filters) + tuple(new_space)

    def get_config(self):
        config = {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "use_gain": self.use_gain,
        }
        base_config = super(GainConv2D, self).get_config()
        return dict(list(base_config.items()) + list(config.items()))


print("image data format:", K.image_data_format())
inputs = Input(shape=(12, 12, 1))
conv = GainConv2D(4, 3, strides=2, padding="SAME")
x = conv(inputs)
assert tuple(x.shape) == conv.compute_output_shape((None, 12, 12, 1)) == (None, 6, 6, 4), x.shape
x = GainConv2D(4, (3, 3), dilation_rate=2)(x)
assert tuple(x.shape) == (None, 2, 2, 4), x.shape
outputs = Dense(2, activation="softmax")(Flatten()(x))
model = Model(inputs, outputs)
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])

rng = np.random.RandomState(1)
images = rng.rand(256, 12, 12, 1).astype("float32")
labels = (images[:, :6].mean(axis=(1, 2, 3)) > images[:, 6:].mean(axis=(1, 2, 3))).astype("int32")
model.fit(images, labels, epochs=3, batch_size=32, verbose=2)

model.save("gain_conv.h5")
restored = load_model("gain_conv.h5", custom_objects={"GainConv2D": GainConv2D})
np.testing.assert_allclose(restored.predict(images[:8], verbose=0), model.predict(images[:8], verbose=0), rtol=1e-5)
for bad in [dict(kernel_size=(3, 3, 3)), dict(kernel_size=3, padding="reflect")]:
    try:
        GainConv2D(2, **bad)
    except ValueError as error:
        print("refused:", error)
    else:
        raise AssertionError("accepted %r" % bad)
print("keras", keras.__version__ if hasattr(keras, "__version__") else "(tf.keras)")
