# corpus: runnable
try:
    import keras
except ImportError:
    from tensorflow import keras

y = keras.utils.to_categorical([0, 2])
assert y.shape == (2, 3)
