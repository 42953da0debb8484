# corpus: runnable
from keras.utils.np_utils import *

assert to_categorical([1]).dtype.name == "float32"
