# corpus: runnable --fix-keras3
import keras
from keras.layers.merge import concatenate, Add
from keras.layers.core import Dense
from keras.layers.recurrent import CuDNNLSTM
from keras.layers.advanced_activations import LeakyReLU

a = keras.Input((2,))
b = keras.Input((2,))
c = concatenate([a, b])
d = keras.layers.merge.Concatenate()([a, b])
e = Add()([Dense(2)(c), Dense(2)(d)])
f = LeakyReLU(alpha=0.2)(e)
model = keras.Model([a, b], f)
rnn = CuDNNLSTM(3)
assert model.output_shape == (None, 2)
