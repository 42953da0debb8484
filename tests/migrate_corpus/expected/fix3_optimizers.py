# corpus: runnable --fix-keras3
from keras import optimizers
from keras.optimizers import SGD, Adam

adam = Adam(learning_rate=0.01)
sgd = SGD(learning_rate=0.1, momentum=0.9, decay=1e-6)
rms = optimizers.RMSprop(learning_rate=0.001)
assert abs(float(adam.learning_rate.numpy()) - 0.01) < 1e-6  # a Variable: float() fails on Keras 3.3
