# corpus: runnable
import keras


class Encoder:
    scale = 2

    def encode(self, labels):
        return keras.utils.to_categorical(labels)

    def encode_all(self, groups):
        return [keras.utils.to_categorical(g) for g in groups]


to_onehot = lambda labels: keras.utils.to_categorical(labels)  # noqa: E731
assert Encoder().encode([1]).shape == to_onehot([1]).shape == (1, 2)
assert len(Encoder().encode_all([[0], [1]])) == 2
