"""Trains a model straight from an HDF5 file with HDF5Matrix (Keras 2.2.4's io_utils).

The data set is written once with h5py; training and test splits are views
of the same datasets (`start`/`end`), inputs are rescaled on the fly with a
`normalizer`, and `fit` reads shuffled batches (`shuffle='batch'`, which
keeps HDF5 reads contiguous).
"""
# kutils-script: lines=keras3
# Not run on tf_keras: its fit(shuffle="batch") shuffles x and y with different permutations inside
# each batch (tf_keras/src/engine/data_adapter.py, shuffle_batch), so labels no longer match inputs.

import h5py
import numpy as np
import tensorflow as tf
from tensorflow.keras.layers import Dense
from tensorflow.keras.models import Sequential
from kutils import HDF5Matrix  # was: from keras.utils.io_utils import HDF5Matrix

tf.keras.utils.set_random_seed(42)  # weights and shuffles repeat from run to run
rng = np.random.RandomState(42)
features = rng.randint(0, 256, size=(1000, 20)).astype("uint8")
targets = (features[:, :10].mean(axis=1) > features[:, 10:].mean(axis=1)).astype("float32")

with h5py.File("dataset.h5", "w") as f:
    f.create_dataset("features", data=features)
    f.create_dataset("labels", data=targets.reshape(-1, 1))


def scale(x):
    return x.astype("float32") / 255.0


X_train = HDF5Matrix("dataset.h5", "features", start=0, end=800, normalizer=scale)
y_train = HDF5Matrix("dataset.h5", "labels", start=0, end=800)
X_test = HDF5Matrix("dataset.h5", "features", start=800, end=1000, normalizer=scale)
y_test = HDF5Matrix("dataset.h5", "labels", start=800, end=1000)
print("train:", X_train.shape, y_train.shape, X_train.dtype)
assert X_train.shape == (800, 20) and len(X_test) == 200
assert X_train.dtype == np.float32

model = Sequential([Dense(16, activation="relu", input_shape=(20,)), Dense(1, activation="sigmoid")])
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(X_train, y_train, batch_size=32, epochs=20, shuffle="batch", verbose=2)

predictions = model.predict(X_test)
assert predictions.shape == (200, 1)
loss, accuracy = model.evaluate(X_test, y_test, verbose=0)
print("test accuracy:", accuracy)
assert accuracy > 0.85, accuracy
