import tensorflow as tf
from keras import backend as K
from keras.backend import set_session
from keras.objectives import categorical_crossentropy
from keras.preprocessing.image import ImageDataGenerator
from keras.wrappers.scikit_learn import KerasClassifier
from keras.layers import Merge

config = tf.compat.v1.ConfigProto()
set_session(tf.compat.v1.Session(config=config))
K.set_session(tf.compat.v1.Session(config=config))


def loss(y_true, y_pred):
    return K.mean(K.square(y_pred - y_true)) + K.epsilon()


ordering = K.image_dim_ordering()


def train(model, x):
    model.save_weights("weights.h5")
    return model.predict_classes(x), model.fit(x, nb_epoch=3)
