# corpus: runnable
from kutils import np_utils

assert np_utils.to_categorical([1], 3).shape == (1, 3)
