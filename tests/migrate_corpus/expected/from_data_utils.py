# corpus: runnable
import numpy as np
from kutils.data_utils import OrderedEnqueuer, Sequence


class Squares(Sequence):
    def __len__(self):
        return 3

    def __getitem__(self, index):
        return np.full((2,), index * index)


enqueuer = OrderedEnqueuer(Squares(), use_multiprocessing=False)
enqueuer.start(workers=1, max_queue_size=2)
batches = enqueuer.get()
first = [next(batches)[0] for _ in range(3)]
enqueuer.stop()
assert first == [0, 1, 4]
