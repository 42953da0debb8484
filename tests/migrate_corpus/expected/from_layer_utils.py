# corpus: runnable
import keras
from kutils.layer_utils import count_params, print_summary

inputs = keras.Input((3,))
model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
lines = []
print_summary(model, print_fn=lines.append)
assert any("Total params: 8" in line for line in lines)
assert count_params(model.trainable_weights) == 8
