"""kutils: the Keras 2.2.4 `keras.utils` namespace, working on TensorFlow 2.21 / Keras 3.

Change one import line (`from keras.utils import to_categorical` becomes
`from kutils import to_categorical`) and Keras 2 code keeps working on Keras 3
models. `import kutils` loads only numpy; TensorFlow, Keras, h5py, pydot and
requests are imported on first use of a name that needs them.
"""

from ._lazy import lazy_exports as _lazy_exports

__version__ = "0.1.0"

# Public name -> the kutils module that defines it. Keep sorted by module.
_EXPORTS: dict[str, str] = {
    # array_ops
    "normalize": ".array_ops",
    "to_categorical": ".array_ops",
    # custom_objects
    "CustomObjectScope": ".custom_objects",
    "custom_object_scope": ".custom_objects",
    "get_custom_objects": ".custom_objects",
    # serialization
    "deserialize_keras_object": ".serialization",
    "serialize_keras_object": ".serialization",
    # progbar
    "Progbar": ".progbar",
    # download
    "get_file": ".download",
    "validate_file": ".download",
    # hdf5
    "H5Dict": ".hdf5",
    "HDF5Matrix": ".hdf5",
    "h5dict": ".hdf5",
    # sequence
    "ArraySequence": ".sequence",
    "Sequence": ".sequence",
    # enqueuers
    "GeneratorEnqueuer": ".enqueuers",
    "OrderedEnqueuer": ".enqueuers",
    "SequenceEnqueuer": ".enqueuers",
    # summary
    "count_params": ".summary",
    "print_summary": ".summary",
    # layer_ops
    "convert_all_kernels_in_model": ".layer_ops",
    "get_source_inputs": ".layer_ops",
    # plotting
    "model_to_dot": ".plotting",
    "plot_model": ".plotting",
    # multi_gpu
    "multi_gpu_model": ".multi_gpu",
    # distribute
    "distributed_fit": ".distribute",
}

# The Keras 2.2.4 submodule paths, reachable as attributes like in keras.utils.
_KERAS2_SUBMODULES = (
    "data_utils",
    "generic_utils",
    "io_utils",
    "layer_utils",
    "multi_gpu_utils",
    "np_utils",
    "vis_utils",
)

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS, _KERAS2_SUBMODULES)
