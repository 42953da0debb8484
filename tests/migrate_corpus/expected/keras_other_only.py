import keras
from keras.layers import Dense

model = keras.Sequential([Dense(2)])
