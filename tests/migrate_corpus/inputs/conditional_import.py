# corpus: runnable
import os

if os.environ.get("USE_TF_KERAS"):
    from tensorflow.keras.utils import Sequence
else:
    from keras.utils import Sequence


class Empty(Sequence):
    def __len__(self):
        return 0

    def __getitem__(self, index):
        raise IndexError(index)


assert len(Empty()) == 0
