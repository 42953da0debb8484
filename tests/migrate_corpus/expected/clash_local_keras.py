# corpus: runnable
import types

import keras
import kutils


def fake():
    keras = types.SimpleNamespace(utils=types.SimpleNamespace(to_categorical=lambda y: "fake"))
    return keras.utils.to_categorical([0])


assert fake() == "fake"
assert kutils.to_categorical([0]).shape == (1, 1)
