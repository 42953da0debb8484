# corpus: runnable
from tensorflow import keras

bar = keras.utils.Progbar(2, verbose=0)
bar.add(2)
model_layer = keras.layers.Flatten()
