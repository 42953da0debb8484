# corpus: runnable
import numpy as np
from keras.utils.np_utils import to_categorical, normalize

y = to_categorical(np.array([1, 0]), 2, dtype="int64")
assert y.dtype == np.int64
assert np.allclose(normalize(np.array([[1.0, 0.0], [0.0, 2.0]]), axis=0), [[1.0, 0.0], [0.0, 1.0]])
