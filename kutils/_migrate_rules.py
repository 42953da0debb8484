"""The rule tables of `kutils migrate`: what Keras 3 removed or changed, and the fix for each.

Facts checked against Keras 3.15 (tests/test_migrate_rules.py fails if an
installed Keras 3 disagrees); sources: the Keras 3 migration guide
(https://keras.io/guides/migrating_to_keras_3/) and
https://github.com/keras-team/keras/issues/18445.
"""

from __future__ import annotations

import dataclasses

# The module paths Keras 2 code reached keras.utils through.
UTILS_PACKAGES = ("keras.utils", "tensorflow.keras.utils", "tensorflow.python.keras.utils")

# Keras 2.0-2.1.5 kept multi_gpu_model in keras/utils/training_utils.py.
KERAS20_SUBMODULE_HOMES = {"training_utils": "multi_gpu_utils"}

# keras.utils names Keras 3 still exports, with what changed (None: unchanged).
# `--only-removed` leaves the unchanged ones on Keras; kutils' other names are
# absent from Keras 3's keras.utils.
KERAS3_UTILS_KEPT: dict[str, str | None] = {
    "CustomObjectScope": "takes one dict; nested scopes do not merge; get_custom_objects() does not see it",
    "custom_object_scope": "an alias of the Keras 3 CustomObjectScope (one dict, no merging)",
    "get_custom_objects": "does not show the entries of an active scope",
    "serialize_keras_object": "new serialization format (Keras 3 serialization_lib)",
    "deserialize_keras_object": "new serialization format (Keras 3 serialization_lib)",
    "Progbar": "width 20 and another output layout",
    "Sequence": "is keras.utils.PyDataset (workers/use_multiprocessing/max_queue_size move to __init__)",
    "to_categorical": "no dtype argument; NumPy input gives float64 instead of float32",
    "normalize": "axis=0 fails or gives wrong results on NumPy input",
    "get_file": "extract=True returns the extracted folder, and fname may not hold a path",
    "plot_model": "show_layer_names=False and dpi=200 by default",
    "model_to_dot": "dpi=200 and another layout by default",
    "get_source_inputs": None,
}
KERAS3_UTILS_SAME_BEHAVIOUR = frozenset(name for name, change in KERAS3_UTILS_KEPT.items() if change is None)

# Roots under which Keras 2 code reached the Keras API.
KERAS_ROOTS = ("keras", "tensorflow.keras", "tensorflow.python.keras")


@dataclasses.dataclass(frozen=True)
class Rule:
    """One Keras 3 break outside keras.utils.

    Attributes:
        id: Short identifier shown in reports (`--json` key `rule`).
        breaks: What Keras 3 does with the Keras 2 code.
        fix: What to write instead.
        mechanical: Whether `--fix-keras3` rewrites it (when the call's shape
            allows; otherwise it is only reported).
    """

    id: str
    breaks: str
    fix: str
    mechanical: bool


_RULE_LIST = (
    Rule(
        "utils-left",
        "a name stays on a Keras 2 keras.utils.<module> path, which Keras 3 does not have",
        "see the fix for the name",
        False,
    ),
    Rule(
        "fit_generator",
        "Model.fit_generator does not exist in Keras 3 (AttributeError)",
        "model.fit(generator, ...): fit takes generators and Sequence objects",
        True,
    ),
    Rule(
        "evaluate_generator",
        "Model.evaluate_generator does not exist in Keras 3 (AttributeError)",
        "model.evaluate(generator, ...)",
        True,
    ),
    Rule(
        "predict_generator",
        "Model.predict_generator does not exist in Keras 3 (AttributeError)",
        "model.predict(generator, ...)",
        True,
    ),
    Rule(
        "workers-arguments",
        "Keras 3 fit/evaluate/predict take no workers=, use_multiprocessing=, max_queue_size= (TypeError)",
        "drop them from the call and pass them to the Sequence: "
        "super().__init__(workers=..., use_multiprocessing=..., max_queue_size=...) in kutils.Sequence "
        "or keras.utils.PyDataset",
        False,
    ),
    Rule(
        "positional-generator-arguments",
        "fit/evaluate/predict read a second positional argument as y / batch_size, not steps",
        "rename the method and pass steps_per_epoch= / steps= by keyword",
        False,
    ),
    Rule(
        "nb_epoch",
        "nb_epoch= (Keras 1) is not accepted by Keras 3 fit (TypeError)",
        "epochs=",
        True,
    ),
    Rule(
        "optimizer-lr",
        "Keras 3 optimizers reject lr= (ValueError: Argument(s) not recognized)",
        "learning_rate=",
        True,
    ),
    Rule(
        "optimizer-decay",
        "Keras 3 optimizers ignore decay= (with a warning): the learning rate stays constant",
        "learning_rate=keras.optimizers.schedules.InverseTimeDecay(lr, decay_steps=1, decay_rate=decay), "
        "which is Keras 2's lr / (1 + decay * iterations)",
        False,
    ),
    Rule(
        "model-input-output",
        "Model(input=, output=) is rejected by Keras 3 (ValueError: Unrecognized keyword arguments)",
        "Model(inputs=, outputs=)",
        True,
    ),
    Rule(
        "layers-submodule",
        "keras.layers.merge, .core, .convolutional and the other layer submodules do not exist in Keras 3",
        "import the names from keras.layers",
        True,
    ),
    Rule(
        "layer-renamed",
        "this layer has another name in Keras 3",
        "use the Keras 3 name",
        True,
    ),
    Rule(
        "layer-removed",
        "this layer does not exist in Keras 3",
        "see the fix for the layer",
        False,
    ),
    Rule(
        "leakyrelu-alpha",
        "Keras 3 LeakyReLU calls alpha= deprecated (UserWarning); its name is negative_slope",
        "negative_slope=",
        True,
    ),
    Rule(
        "backend-session",
        "keras.backend has no sessions in Keras 3 (AttributeError)",
        "delete the call; configure TensorFlow with tf.config (e.g. "
        "tf.config.experimental.set_memory_growth) instead of a tf.compat.v1.Session config",
        False,
    ),
    Rule(
        "backend-function",
        "keras.backend keeps only a few functions in Keras 3 (AttributeError)",
        "see the fix for the function",
        False,
    ),
    Rule(
        "keras-engine",
        "keras.engine does not exist in Keras 3",
        "import the names from keras.layers / keras.models",
        True,
    ),
    Rule(
        "objectives",
        "keras.objectives (Keras 1 name) does not exist in Keras 3",
        "keras.losses",
        True,
    ),
    Rule(
        "scikit-learn-wrappers",
        "keras.wrappers.scikit_learn does not exist in Keras 3",
        "keras.wrappers.SKLearnClassifier / SKLearnRegressor (Keras 3.5+), or the scikeras package",
        False,
    ),
    Rule(
        "preprocessing-removed",
        "keras.preprocessing.text and ImageDataGenerator do not exist in Keras 3",
        "keras.layers.TextVectorization; keras.utils.image_dataset_from_directory with "
        "augmentation layers (keras.layers.RandomFlip, ...)",
        False,
    ),
    Rule(
        "predict_classes",
        "Sequential.predict_classes / predict_proba do not exist in Keras 3 (AttributeError)",
        "np.argmax(model.predict(x), axis=-1) (softmax) or (model.predict(x) > 0.5).astype('int32') "
        "(sigmoid); predict_proba is model.predict(x)",
        False,
    ),
    Rule(
        "save-weights-suffix",
        "Keras 3 save_weights requires a file name ending in .weights.h5 (ValueError)",
        "name the file '<name>.weights.h5' (load_weights reads Keras 2 .h5 files still)",
        False,
    ),
)
RULES = {rule.id: rule for rule in _RULE_LIST}

# Layer submodules of Keras 2 (`keras.layers.merge` ...), all flattened into keras.layers.
KERAS2_LAYER_SUBMODULES = frozenset(
    [
        "advanced_activations",
        "convolutional",
        "convolutional_recurrent",
        "core",
        "cudnn_recurrent",
        "embeddings",
        "local",
        "merge",
        "noise",
        "normalization",
        "pooling",
        "recurrent",
        "wrappers",
    ]
)
# Keras 2 layer name -> Keras 3 name (mechanical).
LAYERS_RENAMED = {
    "CuDNNLSTM": "LSTM",
    "CuDNNGRU": "GRU",
    "Deconvolution2D": "Conv2DTranspose",
    "Deconvolution3D": "Conv3DTranspose",
}
# Keras 2 layer name -> what to do on Keras 3 (by hand).
LAYERS_REMOVED = {
    "Merge": "keras.layers.Concatenate / Add / Multiply / Average / Dot (the layer of the merge mode)",
    "merge": "keras.layers.concatenate / add / multiply / average / dot (the function of the mode)",
    "Highway": "a custom layer (Dense gate times Dense transform plus carry)",
    "MaxoutDense": "a custom layer (max over Dense outputs)",
    "LocallyConnected1D": "a custom layer, or tf_keras",
    "LocallyConnected2D": "a custom layer, or tf_keras",
    "AtrousConvolution1D": "keras.layers.Conv1D(dilation_rate=...)",
    "AtrousConvolution2D": "keras.layers.Conv2D(dilation_rate=...)",
    "ThresholdedReLU": "keras.layers.ReLU(threshold=theta)",
    "Recurrent": "keras.layers.RNN with a cell",
}
# keras.engine names -> their Keras 3 home (None: by hand, see the fix).
KERAS_ENGINE_NAMES: dict[str, str | None] = {
    "Layer": "keras.layers.Layer",
    "InputSpec": "keras.layers.InputSpec",
    "Input": "keras.layers.Input",
    "InputLayer": "keras.layers.InputLayer",
    "Model": "keras.models.Model",
    "Sequential": "keras.models.Sequential",
    "get_source_inputs": "kutils.get_source_inputs",
    "Network": None,
}
KERAS_ENGINE_SUBMODULES = frozenset(
    ["base_layer", "input_layer", "network", "sequential", "topology", "training", "saving"]
)

# What keras.backend still has in Keras 3 (anything else is an AttributeError).
KERAS3_BACKEND = frozenset(
    [
        "backend",
        "clear_session",
        "epsilon",
        "floatx",
        "get_uid",
        "image_data_format",
        "is_float_dtype",
        "is_int_dtype",
        "is_keras_tensor",
        "result_type",
        "set_epsilon",
        "set_floatx",
        "set_image_data_format",
        "standardize_dtype",
    ]
)
KERAS2_BACKEND_SESSION = frozenset(["get_session", "set_session"])
# keras.backend function -> its Keras 3 replacement when not keras.ops.<same name>.
BACKEND_REPLACEMENTS = {
    "image_dim_ordering": "keras.backend.image_data_format() ('th' is channels_first, 'tf' channels_last)",
    "set_image_dim_ordering": "keras.backend.set_image_data_format('channels_first' or 'channels_last')",
    "learning_phase": "pass training=True/False to the layer or model call",
    "set_learning_phase": "pass training=True/False to the layer or model call",
    "get_value": "keras.ops.convert_to_numpy(x)",
    "eval": "keras.ops.convert_to_numpy(x)",
    "batch_get_value": "[keras.ops.convert_to_numpy(x) for x in xs]",
    "set_value": "variable.assign(value)",
    "batch_set_value": "variable.assign(value) for each pair",
    "int_shape": "tuple(x.shape)",
    "variable": "keras.Variable(value)",
    "placeholder": "keras.Input(shape=...)",
    "function": "call the model (or wrap it in tf.function)",
    "pow": "keras.ops.power",
    "l2_normalize": "keras.ops.normalize(x, axis=..., order=2)",
    "batch_dot": "keras.ops.einsum",
    "tf": "import tensorflow as tf",
    "gather": "keras.ops.take",
    "flatten": "keras.ops.reshape(x, (-1,))",
}
# keras.backend functions whose keras.ops namesake does the same job.
OPS_NAMESAKES = frozenset(
    [
        "abs",
        "all",
        "any",
        "argmax",
        "argmin",
        "binary_crossentropy",
        "cast",
        "categorical_crossentropy",
        "clip",
        "concatenate",
        "conv_transpose",
        "cos",
        "cumprod",
        "cumsum",
        "depthwise_conv",
        "dot",
        "elu",
        "equal",
        "exp",
        "expand_dims",
        "eye",
        "greater",
        "greater_equal",
        "hard_sigmoid",
        "in_top_k",
        "less",
        "less_equal",
        "log",
        "logsumexp",
        "max",
        "maximum",
        "mean",
        "min",
        "minimum",
        "not_equal",
        "one_hot",
        "ones",
        "ones_like",
        "prod",
        "relu",
        "repeat",
        "reshape",
        "round",
        "selu",
        "separable_conv",
        "shape",
        "sigmoid",
        "sign",
        "sin",
        "softmax",
        "softplus",
        "softsign",
        "sparse_categorical_crossentropy",
        "sqrt",
        "square",
        "squeeze",
        "stack",
        "std",
        "stop_gradient",
        "sum",
        "tanh",
        "tile",
        "top_k",
        "transpose",
        "var",
        "zeros",
        "zeros_like",
        "arange",
    ]
)
