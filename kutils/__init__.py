"""kutils: the Keras 2.2.4 `keras.utils` namespace, working on TensorFlow 2.21 / Keras 3.

Change one import line (`from keras.utils import to_categorical` becomes
`from kutils import to_categorical`) and Keras 2 code keeps working on Keras 3
models. `import kutils` loads only numpy; TensorFlow, Keras, h5py, pydot and
requests are imported on first use of a name that needs them.
"""

__version__ = "0.1.0"

# The public names, each imported from the kutils module that defines it. This block is the one
# list: type checkers read it, and at run time `kutils._lazy` reads it to import a module on the
# first use of one of its names (so `import kutils` stays light). The Keras 2.2.4 submodule paths
# (`kutils.np_utils`, ...) are reachable as attributes too, as in `keras.utils`.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from . import conv_utils as conv_utils
    from . import data_utils as data_utils
    from . import errors as errors
    from . import generic_utils as generic_utils
    from . import io_utils as io_utils
    from . import layer_utils as layer_utils
    from . import multi_gpu_utils as multi_gpu_utils
    from . import np_utils as np_utils
    from . import test_utils as test_utils
    from . import utils as utils
    from . import vis_utils as vis_utils
    from .array_ops import normalize as normalize
    from .array_ops import to_categorical as to_categorical
    from .custom_objects import CustomObjectScope as CustomObjectScope
    from .custom_objects import custom_object_scope as custom_object_scope
    from .custom_objects import get_custom_objects as get_custom_objects
    from .distribute import distributed_fit as distributed_fit
    from .download import get_file as get_file
    from .download import validate_file as validate_file
    from .enqueuers import GeneratorEnqueuer as GeneratorEnqueuer
    from .enqueuers import OrderedEnqueuer as OrderedEnqueuer
    from .enqueuers import SequenceEnqueuer as SequenceEnqueuer
    from .errors import CacheDirError as CacheDirError
    from .errors import ConvArgumentError as ConvArgumentError
    from .errors import DevicePlacementError as DevicePlacementError
    from .errors import DownloadError as DownloadError
    from .errors import GraphvizNotFoundError as GraphvizNotFoundError
    from .errors import HashMismatchError as HashMismatchError
    from .errors import HDF5DatasetNotFoundError as HDF5DatasetNotFoundError
    from .errors import HDF5FileBusyError as HDF5FileBusyError
    from .errors import HDF5FormatError as HDF5FormatError
    from .errors import HDF5NotADatasetError as HDF5NotADatasetError
    from .errors import ImproperConfigError as ImproperConfigError
    from .errors import InvalidDataFormatError as InvalidDataFormatError
    from .errors import KutilsError as KutilsError
    from .errors import LayerTestError as LayerTestError
    from .errors import MigrateDependencyError as MigrateDependencyError
    from .errors import MissingKerasError as MissingKerasError
    from .errors import ModelNotBuiltError as ModelNotBuiltError
    from .errors import NotAFunctionError as NotAFunctionError
    from .errors import OfflineError as OfflineError
    from .errors import PydotNotFoundError as PydotNotFoundError
    from .errors import RemoteTraceback as RemoteTraceback
    from .errors import StoredModelError as StoredModelError
    from .errors import SummaryPositionsError as SummaryPositionsError
    from .errors import UninterpretableIdentifierError as UninterpretableIdentifierError
    from .errors import UnknownObjectError as UnknownObjectError
    from .errors import UnsafeArchiveError as UnsafeArchiveError
    from .errors import UnsupportedPlotFormatError as UnsupportedPlotFormatError
    from .errors import UnsupportedVersionError as UnsupportedVersionError
    from .errors import WorkerDiedError as WorkerDiedError
    from .errors import WorkerError as WorkerError
    from .errors import WorkerFailureError as WorkerFailureError
    from .hdf5 import H5Dict as H5Dict
    from .hdf5 import HDF5Matrix as HDF5Matrix
    from .hdf5 import h5dict as h5dict
    from .layer_ops import convert_all_kernels_in_model as convert_all_kernels_in_model
    from .layer_ops import get_source_inputs as get_source_inputs
    from .multi_gpu import multi_gpu_model as multi_gpu_model
    from .plotting import model_to_dot as model_to_dot
    from .plotting import plot_model as plot_model
    from .progbar import Progbar as Progbar
    from .sequence import ArraySequence as ArraySequence
    from .sequence import Sequence as Sequence
    from .serialization import deserialize_keras_object as deserialize_keras_object
    from .serialization import serialize_keras_object as serialize_keras_object
    from .summary import count_params as count_params
    from .summary import print_summary as print_summary

__all__ = [
    "ArraySequence",
    "CacheDirError",
    "ConvArgumentError",
    "CustomObjectScope",
    "DevicePlacementError",
    "DownloadError",
    "GeneratorEnqueuer",
    "GraphvizNotFoundError",
    "H5Dict",
    "HDF5DatasetNotFoundError",
    "HDF5FileBusyError",
    "HDF5FormatError",
    "HDF5Matrix",
    "HDF5NotADatasetError",
    "HashMismatchError",
    "ImproperConfigError",
    "InvalidDataFormatError",
    "KutilsError",
    "LayerTestError",
    "MigrateDependencyError",
    "MissingKerasError",
    "ModelNotBuiltError",
    "NotAFunctionError",
    "OfflineError",
    "OrderedEnqueuer",
    "Progbar",
    "PydotNotFoundError",
    "RemoteTraceback",
    "Sequence",
    "SequenceEnqueuer",
    "StoredModelError",
    "SummaryPositionsError",
    "UninterpretableIdentifierError",
    "UnknownObjectError",
    "UnsafeArchiveError",
    "UnsupportedPlotFormatError",
    "UnsupportedVersionError",
    "WorkerDiedError",
    "WorkerError",
    "WorkerFailureError",
    "convert_all_kernels_in_model",
    "count_params",
    "custom_object_scope",
    "deserialize_keras_object",
    "distributed_fit",
    "get_custom_objects",
    "get_file",
    "get_source_inputs",
    "h5dict",
    "model_to_dot",
    "multi_gpu_model",
    "normalize",
    "plot_model",
    "print_summary",
    "serialize_keras_object",
    "to_categorical",
    "validate_file",
]

if not TYPE_CHECKING:
    from ._lazy import lazy_exports as _lazy_exports

    __getattr__, __dir__ = _lazy_exports(__name__)

    del TYPE_CHECKING
