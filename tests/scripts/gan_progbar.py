"""A tiny GAN trained batch by batch, with a Progbar per epoch (the loop of the Keras 2 ACGAN example).

The generator learns to produce points of a 2-D ring; the discriminator is
trained on real and generated batches, then the combined model trains the
generator. Losses are shown on a `Progbar` and averaged per epoch.
"""
# kutils-script: lines=keras3,tf_keras

from collections import defaultdict

import numpy as np
from tensorflow.keras.layers import Dense, Input
from tensorflow.keras.models import Model, Sequential
from tensorflow.keras.optimizers import Adam
from kutils import Progbar  # was: from keras.utils.generic_utils import Progbar

np.random.seed(1337)
latent_size = 4
epochs = 2
batch_size = 32
num_batches = 8


def real_samples(n):
    angle = np.random.uniform(0, 2 * np.pi, size=n)
    return np.stack([np.cos(angle), np.sin(angle)], axis=1).astype("float32")


def build_generator():
    return Sequential([Dense(16, activation="relu", input_shape=(latent_size,)), Dense(2)])


def build_discriminator():
    return Sequential([Dense(16, activation="relu", input_shape=(2,)), Dense(1, activation="sigmoid")])


discriminator = build_discriminator()
discriminator.compile(optimizer=Adam(learning_rate=0.005), loss="binary_crossentropy")  # Keras 3: was Adam(lr=0.005)

generator = build_generator()
latent = Input(shape=(latent_size,))
discriminator.trainable = False
combined = Model(latent, discriminator(generator(latent)))
combined.compile(optimizer=Adam(learning_rate=0.005), loss="binary_crossentropy")  # Keras 3: was Adam(lr=0.005)

train_history = defaultdict(list)
for epoch in range(1, epochs + 1):
    print("Epoch {}/{}".format(epoch, epochs))
    progress_bar = Progbar(target=num_batches)
    epoch_disc_loss = []
    epoch_gen_loss = []
    for index in range(num_batches):
        noise = np.random.normal(size=(batch_size, latent_size)).astype("float32")
        generated = generator.predict(noise, verbose=0)
        x = np.concatenate((real_samples(batch_size), generated))
        y = np.array([1] * batch_size + [0] * batch_size, dtype="float32")
        disc_loss = discriminator.train_on_batch(x, y)
        epoch_disc_loss.append(disc_loss)

        noise = np.random.normal(size=(2 * batch_size, latent_size)).astype("float32")
        trick = np.ones(2 * batch_size, dtype="float32")
        gen_loss = combined.train_on_batch(noise, trick)
        epoch_gen_loss.append(gen_loss)
        progress_bar.update(index + 1, values=[("d_loss", float(np.mean(disc_loss))), ("g_loss", float(np.mean(gen_loss)))])

    train_history["discriminator"].append(float(np.mean(epoch_disc_loss)))
    train_history["generator"].append(float(np.mean(epoch_gen_loss)))
    print("{0:<22s} | {1:4s}".format("component", "loss"))
    print("{0:<22s} | {1:<4.2f}".format("generator (train)", train_history["generator"][-1]))
    print("{0:<22s} | {1:<4.2f}".format("discriminator (train)", train_history["discriminator"][-1]))

assert len(train_history["generator"]) == epochs
assert all(np.isfinite(v) for v in train_history["generator"] + train_history["discriminator"])
samples = generator.predict(np.random.normal(size=(64, latent_size)).astype("float32"), verbose=0)
print("mean radius of generated points:", float(np.linalg.norm(samples, axis=1).mean()))
