"""A hand-written training loop fed by the Keras 2 enqueuers.

Projects with their own loops (multi-task losses, curriculum schedules) fed
`train_on_batch` from an `OrderedEnqueuer` over a `Sequence` (several worker
threads, batches in order) and validated from a `GeneratorEnqueuer` over a
plain Python generator.
"""
# kutils-script: lines=keras3,tf_keras

import threading

import numpy as np
from tensorflow.keras.layers import Dense
from tensorflow.keras.models import Sequential
from tensorflow.keras.optimizers import Adam
from kutils import GeneratorEnqueuer, OrderedEnqueuer, Sequence  # was: from keras.utils import GeneratorEnqueuer, OrderedEnqueuer, Sequence

rng = np.random.RandomState(7)
x_all = rng.normal(size=(640, 6)).astype("float32")
y_all = (x_all @ np.arange(1, 7, dtype="float32") > 0).astype("float32")


class Batches(Sequence):
    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.threads = set()
        self.epochs = 0

    def __len__(self):
        return int(np.ceil(len(self.x) / float(self.batch_size)))

    def __getitem__(self, idx):
        self.threads.add(threading.current_thread().name)
        batch = slice(idx * self.batch_size, (idx + 1) * self.batch_size)
        return self.x[batch], self.y[batch]

    def on_epoch_end(self):
        self.epochs += 1


def validation_batches(x, y, batch_size):
    while True:
        for start in range(0, len(x), batch_size):
            yield x[start:start + batch_size], y[start:start + batch_size]


model = Sequential([Dense(8, activation="relu", input_shape=(6,)), Dense(1, activation="sigmoid")])
model.compile(optimizer=Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"])

train = Batches(x_all[:512], y_all[:512], batch_size=32)
epochs = 6
enqueuer = OrderedEnqueuer(train, use_multiprocessing=False, shuffle=False)
enqueuer.start(workers=3, max_queue_size=8)
batches = enqueuer.get()
first_losses = []
try:
    for epoch in range(epochs):
        losses = []
        for step in range(len(train)):
            x, y = next(batches)
            assert len(x) == len(y) == 32
            losses.append(model.train_on_batch(x, y))
        print("epoch %d: loss %.4f" % (epoch + 1, np.mean([np.ravel(l)[0] for l in losses])))
        first_losses.append(np.mean([np.ravel(l)[0] for l in losses]))
finally:
    enqueuer.stop()
assert not enqueuer.is_running()
assert first_losses[-1] < first_losses[0], first_losses
print("worker threads used:", len(train.threads))

val = GeneratorEnqueuer(validation_batches(x_all[512:], y_all[512:], 32), use_multiprocessing=False)
val.start(workers=1, max_queue_size=4)
try:
    generator = val.get()
    results = [model.test_on_batch(*next(generator)) for _ in range(4)]
finally:
    val.stop()
accuracy = float(np.mean([np.ravel(r)[-1] for r in results]))
print("validation accuracy:", accuracy)
assert accuracy > 0.7, results
