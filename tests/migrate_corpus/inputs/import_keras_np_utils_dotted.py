# corpus: runnable
import keras.utils.np_utils

y = keras.utils.np_utils.to_categorical([0, 1])
assert y.shape == (2, 2)
