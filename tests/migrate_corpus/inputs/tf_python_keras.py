# corpus: runnable
from tensorflow.python.keras.utils.np_utils import to_categorical
from tensorflow.python.keras.utils import generic_utils

assert to_categorical([0]).shape == (1, 1)
assert generic_utils.to_list((1, 2)) == [(1, 2)]
