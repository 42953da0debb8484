"""Data-parallel training with multi_gpu_model, then saving the template model.

The Keras 2.2.4 recipe: build the template model on the CPU, replicate it
with `multi_gpu_model`, train the parallel model, save the template. This
machine has no GPUs, so two logical CPU devices stand in for them.
"""
# kutils-script: lines=keras3,tf_keras

import numpy as np
import tensorflow as tf

# No GPU here: split the CPU into two logical devices before TensorFlow starts (they stand in for 2 GPUs).
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from tensorflow.keras.layers import Dense, Dropout  # noqa: E402
from tensorflow.keras.models import Sequential, load_model  # noqa: E402
from kutils import multi_gpu_model, to_categorical  # was: from keras.utils import multi_gpu_model, to_categorical

num_samples = 512
num_classes = 4

with tf.device("/cpu:0"):
    model = Sequential([
        Dense(32, activation="relu", input_shape=(16,)),
        Dropout(0.1),
        Dense(num_classes, activation="softmax"),
    ])

# No GPU here: devices= names the two logical CPUs (a kutils addition); with GPUs this is gpus=2.
parallel_model = multi_gpu_model(model, devices=["/cpu:0", "/cpu:1"])
parallel_model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["accuracy"])

rng = np.random.RandomState(3)
x = rng.normal(size=(num_samples, 16)).astype("float32")
y = to_categorical(np.argmax(x[:, :num_classes], axis=1), num_classes)

history = parallel_model.fit(x, y, epochs=6, batch_size=64, verbose=2)
losses = history.history["loss"]
print("loss: %.3f -> %.3f" % (losses[0], losses[-1]))
assert losses[-1] < 0.95 * losses[0], losses

# The template model shares the trained weights: save it, not the parallel one.
np.testing.assert_allclose(model.predict(x[:16], verbose=0), parallel_model.predict(x[:16], verbose=0), rtol=1e-4,
                           atol=1e-6)
model.save("my_model.h5")
restored = load_model("my_model.h5")
np.testing.assert_allclose(restored.predict(x[:16], verbose=0), model.predict(x[:16], verbose=0), rtol=1e-5)
