# corpus: runnable
import numpy as np
import keras
import kutils

x = kutils.to_categorical(np.array([0, 1, 1]))
layer = keras.layers.Dense(2)
assert x.dtype == np.float32
