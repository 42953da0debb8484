"""Writes the model files the `kutils summary`/`kutils plot` tests read, in a process of its own.

    python tests/_cli_model_files.py OUT_DIR

- `k3_functional.keras`, `k3_functional.h5`: a two-branch model saved by the active Keras;
- `keras2_functional.h5`: the same graph saved by tf_keras (the Keras 2 `.h5` format);
- `keras2_custom.h5`: saved by tf_keras with a custom layer (`Scale`, as in `cli_files/scale_layer.py`):
  Keras cannot load it without the class;
- `keras2_nested.h5`: saved by tf_keras with a nested Sequential, which Keras 3 (up to 3.15 at least)
  cannot load at all (IndexError in its legacy .h5 loader);
- `keras224_mnist.h5`: a Keras 2.2.4 file as 2.2.4 wrote it (its `model_config` JSON conventions and
  `model_weights` layout, written here with h5py): a small CNN whose head is a nested Sequential,
  which Keras 3 cannot load;
- `keras2_lambda.h5`: saved by tf_keras with a Lambda layer (Python bytecode in the file);
- `weights_only.h5`: `save_weights` output, no model configuration.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def two_branches(keras):
    inputs = keras.Input((8,), name="x")
    left = keras.layers.Dense(4, name="d1")(inputs)
    right = keras.layers.Dense(4, name="d2")(inputs)
    merged = keras.layers.add([left, right], name="add")
    outputs = keras.layers.BatchNormalization(name="bn")(merged)
    return keras.Model(inputs, outputs, name="two_branches")


def keras2_custom(tf_keras):
    class Scale(tf_keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, input_shape):
            self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

        def call(self, inputs):
            return inputs * self.scale * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    inputs = tf_keras.Input((6,), name="img")
    hidden = tf_keras.layers.Dense(5, name="d")(inputs)
    return tf_keras.Model(inputs, Scale(name="scale")(hidden), name="legacy_custom")


def keras2_nested(tf_keras):
    inputs = tf_keras.Input((6,), name="img")
    hidden = tf_keras.layers.Dense(5, name="d")(inputs)
    hidden = tf_keras.layers.BatchNormalization(name="bn")(hidden)
    head = tf_keras.Sequential([tf_keras.layers.Dense(3, input_shape=(5,), name="inner_d")], name="head")
    return tf_keras.Model(inputs, head(hidden), name="legacy_nested")


def keras2_lambda(tf_keras):
    inputs = tf_keras.Input((4,), name="x")
    doubled = tf_keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    return tf_keras.Model(inputs, tf_keras.layers.Dense(2, name="d")(doubled), name="with_lambda")


def _dense_2_2_4(name: str, units: int, activation: str, **extra: object) -> dict:
    initializer = {
        "class_name": "VarianceScaling",
        "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None},
    }
    config = {
        "name": name,
        "trainable": True,
        "units": units,
        "activation": activation,
        "use_bias": True,
        "kernel_initializer": initializer,
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
        **extra,
    }
    return {"class_name": "Dense", "config": config}


def keras224_mnist(path: Path) -> None:
    """Writes the file Keras 2.2.4's `model.save()` wrote for this model, with h5py only.

    Layout as in https://github.com/keras-team/keras/blob/2.2.4/keras/engine/saving.py:
    `model_config` JSON (2.2.4's Sequential config is `{"name", "layers"}`), `model_weights` with
    `layer_names` and per-layer `weight_names`.
    """
    import json

    import h5py
    import numpy as np

    head = {
        "name": "head",
        "layers": [_dense_2_2_4("dense_1", 10, "softmax", batch_input_shape=[None, 1352])],
    }
    layers = [
        {
            "name": "image",
            "class_name": "InputLayer",
            "inbound_nodes": [],
            "config": {
                "batch_input_shape": [None, 28, 28, 1],
                "dtype": "float32",
                "sparse": False,
                "name": "image",
            },
        },
        {
            "name": "conv2d_1",
            "class_name": "Conv2D",
            "inbound_nodes": [[["image", 0, 0, {}]]],
            "config": {
                "name": "conv2d_1",
                "trainable": True,
                "filters": 8,
                "kernel_size": [3, 3],
                "strides": [1, 1],
                "padding": "valid",
                "data_format": "channels_last",
                "dilation_rate": [1, 1],
                "activation": "relu",
                "use_bias": True,
                "kernel_initializer": _dense_2_2_4("x", 1, "linear")["config"]["kernel_initializer"],
                "bias_initializer": {"class_name": "Zeros", "config": {}},
                "kernel_regularizer": None,
                "bias_regularizer": None,
                "activity_regularizer": None,
                "kernel_constraint": None,
                "bias_constraint": None,
            },
        },
        {
            "name": "pool_1",
            "class_name": "MaxPooling2D",
            "inbound_nodes": [[["conv2d_1", 0, 0, {}]]],
            "config": {
                "name": "pool_1",
                "trainable": True,
                "pool_size": [2, 2],
                "padding": "valid",
                "strides": [2, 2],
                "data_format": "channels_last",
            },
        },
        {
            "name": "flatten_1",
            "class_name": "Flatten",
            "inbound_nodes": [[["pool_1", 0, 0, {}]]],
            "config": {"name": "flatten_1", "trainable": True, "data_format": "channels_last"},
        },
        {
            "name": "head",
            "class_name": "Sequential",
            "inbound_nodes": [[["flatten_1", 0, 0, {}]]],
            "config": head,
        },
    ]
    config = {
        "class_name": "Model",
        "config": {
            "name": "mnist_cnn",
            "layers": layers,
            "input_layers": [["image", 0, 0]],
            "output_layers": [["head", 1, 0]],
        },
    }
    rng = np.random.default_rng(0)
    weights = {
        "conv2d_1": [("conv2d_1/kernel:0", (3, 3, 1, 8)), ("conv2d_1/bias:0", (8,))],
        "head": [("dense_1/kernel:0", (1352, 10)), ("dense_1/bias:0", (10,))],
    }
    with h5py.File(path, "w") as file:
        file.attrs["keras_version"] = b"2.2.4"
        file.attrs["backend"] = b"tensorflow"
        file.attrs["model_config"] = json.dumps(config).encode("utf-8")
        group = file.create_group("model_weights")
        names = [layer["name"] for layer in layers]
        group.attrs["layer_names"] = [name.encode("utf-8") for name in names]
        group.attrs["keras_version"] = b"2.2.4"
        group.attrs["backend"] = b"tensorflow"
        for name in names:
            layer_group = group.create_group(name)
            layer_group.attrs["weight_names"] = [w.encode("utf-8") for w, _ in weights.get(name, [])]
            for weight_name, shape in weights.get(name, []):
                layer_group[weight_name] = rng.standard_normal(shape).astype("float32")


def main(out: Path) -> None:
    import warnings

    import tf_keras

    from kutils._keras import import_keras

    warnings.simplefilter("ignore")
    keras = import_keras()
    model = two_branches(keras)
    model.save(out / "k3_functional.keras")
    model.save(out / "k3_functional.h5")
    two_branches(tf_keras).save(out / "keras2_functional.h5")
    keras2_custom(tf_keras).save(out / "keras2_custom.h5")
    keras2_nested(tf_keras).save(out / "keras2_nested.h5")
    keras2_lambda(tf_keras).save(out / "keras2_lambda.h5")
    keras224_mnist(out / "keras224_mnist.h5")
    tf_keras.Sequential([tf_keras.layers.Dense(3, input_shape=(5,), name="only")], name="s").save_weights(
        out / "weights_only.h5"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
