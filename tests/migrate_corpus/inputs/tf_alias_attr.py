# corpus: runnable
import tensorflow as tf

y = tf.keras.utils.to_categorical([1, 2], num_classes=3)
assert str(y.dtype) == "float32"
dense = tf.keras.layers.Dense(3)
