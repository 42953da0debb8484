"""Trains on samples stored one file per sample, through a `Sequence` data generator.

The pattern of the widely copied "detailed example of how to use data
generators with Keras": a `DataGenerator(Sequence)` that loads the `.npy`
file of each sample ID of a batch, one-hot encodes the labels and reshuffles
the IDs at the end of every epoch; several workers load batches in parallel.
"""
# kutils-script: lines=keras3,tf_keras

import os

import numpy as np
from tensorflow import keras
from tensorflow.keras.layers import Conv1D, Dense, GlobalAveragePooling1D
from tensorflow.keras.models import Sequential
from kutils import Sequence, to_categorical  # was: from keras.utils import Sequence, to_categorical


class DataGenerator(Sequence):
    "Generates data for Keras"

    def __init__(self, list_IDs, labels, batch_size=32, dim=(32,), n_channels=1, n_classes=10, shuffle=True):
        "Initialization"
        self.dim = dim
        self.batch_size = batch_size
        self.labels = labels
        self.list_IDs = list_IDs
        self.n_channels = n_channels
        self.n_classes = n_classes
        self.shuffle = shuffle
        self.epochs_seen = 0
        self.on_epoch_end()

    def __len__(self):
        "Denotes the number of batches per epoch"
        return int(np.floor(len(self.list_IDs) / self.batch_size))

    def __getitem__(self, index):
        "Generate one batch of data"
        indexes = self.indexes[index * self.batch_size : (index + 1) * self.batch_size]
        list_IDs_temp = [self.list_IDs[k] for k in indexes]
        X, y = self.__data_generation(list_IDs_temp)
        return X, y

    def on_epoch_end(self):
        "Updates indexes after each epoch"
        self.epochs_seen += 1
        self.indexes = np.arange(len(self.list_IDs))
        if self.shuffle:
            np.random.shuffle(self.indexes)

    def __data_generation(self, list_IDs_temp):
        "Generates data containing batch_size samples"
        X = np.empty((self.batch_size, *self.dim, self.n_channels))
        y = np.empty((self.batch_size), dtype=int)
        for i, ID in enumerate(list_IDs_temp):
            X[i,] = np.load("data/" + ID + ".npy")
            y[i] = self.labels[ID]
        return X, to_categorical(y, num_classes=self.n_classes)


# Write the data set: one file per sample, as the example assumes.
os.makedirs("data", exist_ok=True)
rng = np.random.RandomState(0)
partition = {"train": [], "validation": []}
labels = {}
for i in range(384):
    ID = "id-%d" % i
    label = i % 3
    signal = np.sin(np.linspace(0, (label + 1) * np.pi, 32)) + 0.3 * rng.randn(32)
    np.save("data/" + ID + ".npy", signal.reshape(32, 1))
    labels[ID] = label
    partition["train" if i < 320 else "validation"].append(ID)

params = {"dim": (32,), "batch_size": 32, "n_classes": 3, "n_channels": 1, "shuffle": True}
training_generator = DataGenerator(partition["train"], labels, **params)
validation_generator = DataGenerator(partition["validation"], labels, **params)

model = Sequential(
    [
        Conv1D(16, 5, activation="relu", input_shape=(32, 1)),
        GlobalAveragePooling1D(),
        Dense(3, activation="softmax"),
    ]
)
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])

# Keras 3: fit() has no workers=/use_multiprocessing= (and fit_generator is gone); the sequence carries them.
training_generator.workers = 2
training_generator.use_multiprocessing = False
history = model.fit(training_generator, validation_data=validation_generator, epochs=4, verbose=2)  # Keras 3: was model.fit_generator(generator=training_generator, validation_data=validation_generator, use_multiprocessing=False, workers=2, epochs=4)

assert training_generator.epochs_seen >= 4, training_generator.epochs_seen
accuracy = history.history["val_accuracy" if "val_accuracy" in history.history else "val_acc"][-1]
print("validation accuracy:", accuracy)
assert accuracy > 0.6, history.history
