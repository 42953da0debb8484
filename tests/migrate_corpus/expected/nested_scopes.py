# corpus: runnable
import keras
import kutils


class Encoder:
    scale = 2

    def encode(self, labels):
        return kutils.to_categorical(labels)

    def encode_all(self, groups):
        return [kutils.to_categorical(g) for g in groups]


to_onehot = lambda labels: kutils.to_categorical(labels)  # noqa: E731
assert Encoder().encode([1]).shape == to_onehot([1]).shape == (1, 2)
assert len(Encoder().encode_all([[0], [1]])) == 2
