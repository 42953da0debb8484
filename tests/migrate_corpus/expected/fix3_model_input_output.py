# corpus: runnable --fix-keras3
from keras.layers import Dense, Input
from keras.models import Model

x = Input(shape=(4,))
model = Model(inputs=x, outputs=Dense(1)(x))
assert model.count_params() == 5
