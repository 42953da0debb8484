# corpus: runnable --fix-keras3
"""A Keras 2.2.4-era training script, shrunk to synthetic data."""

from __future__ import print_function

import numpy as np
import keras
from keras.models import Sequential
from keras.layers import Dense, Dropout
from keras.optimizers import RMSprop
from kutils import np_utils
from kutils import print_summary

batch_size = 16
num_classes = 3
epochs = 1

x_train = np.random.rand(32, 8).astype("float32")
y_train = np.random.randint(0, num_classes, size=32)
# convert class vectors to binary class matrices
y_train = np_utils.to_categorical(y_train, num_classes)

model = Sequential()
model.add(keras.Input((8,)))
model.add(Dense(16, activation="relu"))
model.add(Dropout(0.2))
model.add(Dense(num_classes, activation="softmax"))
print_summary(model, print_fn=lambda line: None)

model.compile(loss="categorical_crossentropy", optimizer=RMSprop(learning_rate=0.001), metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=0)
assert len(history.history["loss"]) == epochs
