# corpus: runnable
try:
    import keras
except ImportError:
    from tensorflow import keras
import kutils

y = kutils.to_categorical([0, 2])
assert y.shape == (2, 3)
