# corpus: runnable
"""The script has its own `kutils` variable: the new import gets another name."""

import keras

kutils = "my own kutils"
y = keras.utils.to_categorical([1])
assert kutils == "my own kutils" and y.shape == (1, 2)
