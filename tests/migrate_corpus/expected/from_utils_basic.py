# corpus: runnable
import numpy as np
from kutils import to_categorical

labels = np.array([0, 2, 1])
onehot = to_categorical(labels, num_classes=3)
assert onehot.dtype == np.float32 and onehot.shape == (3, 3)
