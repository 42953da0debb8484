# corpus: runnable
import keras.utils

assert keras.utils.normalize([[3.0, 4.0]]).tolist() == [[0.6, 0.8]]
