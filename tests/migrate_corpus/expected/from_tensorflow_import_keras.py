# corpus: runnable
from tensorflow import keras
import kutils

bar = kutils.Progbar(2, verbose=0)
bar.add(2)
model_layer = keras.layers.Flatten()
