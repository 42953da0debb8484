# corpus: runnable
"""Several names on one line."""

import math

import numpy as np
from kutils import Progbar, Sequence, normalize, to_categorical


class Batches(Sequence):
    def __init__(self, x, batch_size):
        self.x, self.batch_size = x, batch_size

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        return self.x[index * self.batch_size : (index + 1) * self.batch_size]


batches = Batches(np.arange(10), 4)
assert len(batches) == 3 and list(batches[2]) == [8, 9]
bar = Progbar(3, verbose=0)
bar.update(3)
assert normalize(np.array([[3.0, 4.0]]))[0, 0] == 0.6
assert to_categorical([1], 2).tolist() == [[0.0, 1.0]]
