# corpus: runnable
import kutils

y = kutils.np_utils.to_categorical([0, 1])
assert y.shape == (2, 2)
