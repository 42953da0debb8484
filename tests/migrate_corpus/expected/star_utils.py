# corpus: runnable
from keras.utils import *
from kutils import *

assert to_categorical([0, 1]).shape == (2, 2)
assert multi_gpu_model is not None
