# corpus: runnable
from keras.utils import conv_utils
from keras.utils.conv_utils import conv_output_length

assert conv_utils.normalize_tuple(3, 2, "kernel_size") == (3, 3)
assert conv_output_length(10, 3, "valid", 1) == 8
