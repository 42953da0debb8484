# corpus: runnable
import numpy as np
import keras

x = keras.utils.to_categorical(np.array([0, 1, 1]))
layer = keras.layers.Dense(2)
assert x.dtype == np.float32
