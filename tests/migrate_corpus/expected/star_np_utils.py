# corpus: runnable
from kutils.np_utils import *

assert to_categorical([1]).dtype.name == "float32"
