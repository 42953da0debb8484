"""Loads a face-embedding network whose Lambda layers call TensorFlow, through CustomObjectScope({'tf': tf}).

The Keras-OpenFace pattern: the network's Lambda layers call `tf.nn.lrn`,
`tf.image.resize` and `tf.nn.l2_normalize`, and programs that use the saved
file load it with `with CustomObjectScope({'tf': tf}): load_model(...)`, so
that the Lambda code finds `tf`. Here the file is made first (one training
step on random faces), then loaded and checked against the original.
"""
# kutils-script: lines=keras3,tf_keras

import numpy as np
import tensorflow as tf
from tensorflow.keras.layers import Activation, BatchNormalization, Conv2D, Dense, Flatten, Input, Lambda, MaxPooling2D
from tensorflow.keras.models import Model, load_model
from kutils import CustomObjectScope  # was: from keras.utils import CustomObjectScope


def build_embedding_model():
    image = Input(shape=(24, 24, 3))
    x = Conv2D(8, (5, 5), strides=(2, 2), padding="same", name="conv1")(image)
    x = BatchNormalization(axis=3, epsilon=0.00001, name="bn1")(x)
    x = Activation("relu")(x)
    x = MaxPooling2D(pool_size=3, strides=2, padding="same")(x)
    x = Lambda(lambda x: tf.nn.lrn(x, alpha=1e-4, beta=0.75), name="lrn_1")(x)
    x = Lambda(lambda x: tf.image.resize(x, (8, 8)), name="resize")(x)
    x = Conv2D(16, (3, 3), padding="same", name="conv2")(x)
    x = Activation("relu")(x)
    x = Flatten()(x)
    x = Dense(32, name="dense_layer")(x)
    norm_layer = Lambda(lambda x: tf.nn.l2_normalize(x, axis=1), name="norm_layer")(x)
    return Model(inputs=[image], outputs=norm_layer)


faces = np.random.RandomState(0).rand(16, 24, 24, 3).astype("float32")
model = build_embedding_model()
model.compile(optimizer="adam", loss="mean_squared_error")
model.train_on_batch(faces, np.random.RandomState(1).normal(size=(16, 32)).astype("float32"))
model.save("nn4.small2.h5")
expected = model.predict(faces, verbose=0)

with CustomObjectScope({"tf": tf}):
    nn4 = load_model("nn4.small2.h5", compile=False, safe_mode=False)  # Keras 3: Lambda bytecode loads only with safe_mode=False

embeddings = nn4.predict(faces, verbose=0)
assert embeddings.shape == (16, 32), embeddings.shape
np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-4)
np.testing.assert_allclose(embeddings, expected, rtol=1e-4, atol=1e-5)
distance = np.sum(np.square(embeddings[0] - embeddings[1]))
print("distance between face 0 and face 1: %.4f" % distance)
