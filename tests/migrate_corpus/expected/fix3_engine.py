# corpus: runnable --fix-keras3
import keras
from keras.layers import Layer
from kutils import get_source_inputs


class Double(Layer):
    def call(self, x):
        return x * 2


x = keras.Input((1,))
y = Double()(x)
assert get_source_inputs(y)[0] is x
