"""Trains a simple deep NN on the MNIST dataset with tf.keras.

Written as TensorFlow 2.x / tf.keras code was: tf.keras for the model,
the data set fetched with get_file and one-hot encoded with to_categorical.
"""
# kutils-script: lines=keras3,tf_keras

import os

import numpy as np
import tensorflow as tf
from tensorflow.keras.layers import Dense, Dropout
from tensorflow.keras.models import Sequential
from tensorflow.keras.optimizers import RMSprop
from kutils import get_file, normalize, print_summary, to_categorical  # was: from keras.utils import get_file, normalize, print_summary, to_categorical

DATA_URL = os.environ.get("DATA_URL", "https://s3.amazonaws.com/img-datasets/")
batch_size = 64
num_classes = 10
epochs = 3

path = get_file("mnist.npz", origin=DATA_URL + "mnist.npz", cache_subdir="datasets")
with np.load(path) as f:
    x_train, y_train = f["x_train"], f["y_train"]
    x_test, y_test = f["x_test"], f["y_test"]

x_train = normalize(x_train.reshape(len(x_train), 784).astype("float32"))
x_test = normalize(x_test.reshape(len(x_test), 784).astype("float32"))
print(x_train.shape[0], "train samples")
print(x_test.shape[0], "test samples")

y_train = to_categorical(y_train, num_classes)
y_test = to_categorical(y_test, num_classes)
assert y_train.shape == (len(x_train), num_classes)

model = Sequential()
model.add(Dense(128, activation="relu", input_shape=(784,)))
model.add(Dropout(0.2))
model.add(Dense(128, activation="relu"))
model.add(Dropout(0.2))
model.add(Dense(num_classes, activation="softmax"))

print_summary(model)

model.compile(loss="categorical_crossentropy", optimizer=RMSprop(), metrics=["accuracy"])

history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=2, validation_data=(x_test, y_test))
score = model.evaluate(x_test, y_test, verbose=0)
print("TensorFlow", tf.__version__)
print("Test loss:", score[0])
print("Test accuracy:", score[1])
assert score[1] > 0.5, score
