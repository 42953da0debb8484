"""Run as a script: saves models whose Lambda code uses `tf` and `double_it`, globals of this script only.

    python _lambda_save.py LINE FOLDER

LINE is `keras` or `tf_keras`. Writes FOLDER/lambdas.h5, FOLDER/lambdas.keras (Lambda code calling
`tf.nn.lrn`, `tf.image.resize` and `double_it`, as Keras-OpenFace's nn4.small2 does), the same pair of
a model whose only Lambda needs no outside name (plain.*), and the input and expected outputs (.npy).
The loading process does not have these globals, so its Lambda code must get them from a scope.
"""

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

line = __import__(sys.argv[1])
folder = Path(sys.argv[2])


def double_it(x):
    return 2.0 * x


def lrn(x):
    return tf.nn.lrn(x, depth_radius=2, bias=1.0, alpha=1e-4, beta=0.75)


inputs = line.Input((4, 4, 3))
normalized = line.layers.Lambda(lambda x: tf.nn.lrn(x, alpha=1e-4, beta=0.75), name="lrn")(inputs)
resized = line.layers.Lambda(lambda x: tf.image.resize(x, (2, 2)), name="resize")(normalized)
doubled = line.layers.Lambda(lambda x: double_it(x), name="double")(resized)
lambdas = line.Model(inputs, doubled)

plain_outputs = line.layers.Lambda(lambda x: x * 3.0 + 1.0, name="plain")(inputs)
plain = line.Model(inputs, plain_outputs)

x = np.random.RandomState(0).rand(2, 4, 4, 3).astype("float32")
np.save(folder / "x.npy", x)
for name, model in (("lambdas", lambdas), ("plain", plain)):
    np.save(folder / f"{name}.npy", model.predict(x, verbose=0))
    for suffix in (".h5", ".keras"):
        model.save(folder / f"{name}{suffix}")
