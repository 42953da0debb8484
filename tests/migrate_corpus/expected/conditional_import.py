# corpus: runnable
import os

if os.environ.get("USE_TF_KERAS"):
    from kutils import Sequence
else:
    from kutils import Sequence


class Empty(Sequence):
    def __len__(self):
        return 0

    def __getitem__(self, index):
        raise IndexError(index)


assert len(Empty()) == 0
