# corpus: runnable
from keras import utils

y = utils.to_categorical([2, 0], num_classes=3)
assert y.shape == (2, 3)
