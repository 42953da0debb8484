# corpus: runnable
import keras.utils as ku

assert ku.to_categorical([0, 1]).shape == (2, 2)
bar = ku.Progbar(target=1, verbose=0)
