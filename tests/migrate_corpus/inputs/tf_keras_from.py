# corpus: runnable
from tensorflow.keras.utils import Sequence, to_categorical, get_source_inputs


class One(Sequence):
    def __len__(self):
        return 1

    def __getitem__(self, index):
        return to_categorical([index], 2)


assert One()[0].tolist() == [[1.0, 0.0]]
