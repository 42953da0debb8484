"""Process workers on a Sequence that holds a lambda and a closure (the `dataset.map(lambda ...)` pattern).

Keras 2.2.4 handed the sequence to forked workers without pickling it, so
sequences holding lambdas, closures or local functions worked with
`use_multiprocessing=True`; this loop feeds `train_on_batch` from such a
sequence through an `OrderedEnqueuer` with two worker processes. Like most
programs that start processes, it keeps its work under a main guard.
"""
# kutils-script: lines=keras3,tf_keras

import os

import numpy as np
from tensorflow.keras.layers import Dense
from tensorflow.keras.models import Sequential
from tensorflow.keras.optimizers import Adam
from kutils import OrderedEnqueuer, Sequence  # was: from keras.utils import OrderedEnqueuer, Sequence


class MappedSequence(Sequence):
    """Applies `fn` to each batch of an underlying array, like a dataset.map()."""

    def __init__(self, x, y, batch_size, fn):
        self.x, self.y, self.batch_size, self.fn = x, y, batch_size, fn

    def __len__(self):
        return len(self.x) // self.batch_size

    def __getitem__(self, idx):
        batch = slice(idx * self.batch_size, (idx + 1) * self.batch_size)
        return self.fn(self.x[batch]), self.y[batch], np.full(self.batch_size, os.getpid())

    def map(self, fn):
        return MappedSequence(self.x, self.y, self.batch_size, lambda x: fn(self.fn(x)))


def make_scaler(scale):
    def scaler(x):
        return x * scale  # a closure over `scale`
    return scaler


def main():
    rng = np.random.RandomState(5)
    x = rng.randint(0, 255, size=(512, 10)).astype("float32")
    y = (x[:, :5].sum(axis=1) > x[:, 5:].sum(axis=1)).astype("float32")

    sequence = MappedSequence(x, y, 32, make_scaler(1.0 / 255)).map(lambda batch: batch - 0.5)

    model = Sequential([Dense(8, activation="relu", input_shape=(10,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer=Adam(0.02), loss="binary_crossentropy")

    enqueuer = OrderedEnqueuer(sequence, use_multiprocessing=True, shuffle=True)
    enqueuer.start(workers=2, max_queue_size=6)
    pids = set()
    losses = []
    try:
        batches = enqueuer.get()
        for epoch in range(4):
            epoch_losses = []
            for _ in range(len(sequence)):
                batch_x, batch_y, worker_pids = next(batches)
                assert -0.5 <= batch_x.min() and batch_x.max() <= 0.5
                pids.update(worker_pids.tolist())
                epoch_losses.append(float(np.ravel(model.train_on_batch(batch_x, batch_y))[0]))
            losses.append(np.mean(epoch_losses))
            print("epoch %d: loss %.4f" % (epoch + 1, losses[-1]))
    finally:
        enqueuer.stop()

    assert os.getpid() not in pids and len(pids) >= 1, pids
    print("batches made by worker processes:", sorted(pids))
    assert losses[-1] < losses[0], losses


if __name__ == "__main__":
    main()
