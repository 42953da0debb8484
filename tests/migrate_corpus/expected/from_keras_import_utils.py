# corpus: runnable
import kutils as utils

y = utils.to_categorical([2, 0], num_classes=3)
assert y.shape == (2, 3)
