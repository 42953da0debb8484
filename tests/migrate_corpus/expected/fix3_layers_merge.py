# corpus: runnable --fix-keras3
import keras
from keras.layers import concatenate, Add
from keras.layers import Dense
from keras.layers import LSTM as CuDNNLSTM
from keras.layers import LeakyReLU

a = keras.Input((2,))
b = keras.Input((2,))
c = concatenate([a, b])
d = keras.layers.Concatenate()([a, b])
e = Add()([Dense(2)(c), Dense(2)(d)])
f = LeakyReLU(negative_slope=0.2)(e)
model = keras.Model([a, b], f)
rnn = CuDNNLSTM(3)
assert model.output_shape == (None, 2)
