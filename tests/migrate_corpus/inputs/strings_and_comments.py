import keras

# keras.utils.to_categorical stays in this comment
HELP = "call keras.utils.to_categorical(y) or from keras.utils import to_categorical"
y = keras.utils.to_categorical([0])  # keras.utils.to_categorical here too
