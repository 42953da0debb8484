"""Keras 2.2.4 `keras.utils.io_utils` path: `from kutils.io_utils import ...` works as it did.

Names are re-exported lazily from the kutils module that defines them (see `kutils._lazy`):
the imports under `if TYPE_CHECKING:` are the list of names, for type checkers and at run time.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .hdf5 import H5Dict as H5Dict
    from .hdf5 import HDF5Matrix as HDF5Matrix
    from .hdf5 import h5dict as h5dict
    from .prompts import ask_to_proceed_with_overwrite as ask_to_proceed_with_overwrite

__all__ = [
    "H5Dict",
    "HDF5Matrix",
    "ask_to_proceed_with_overwrite",
    "h5dict",
]

if not TYPE_CHECKING:
    from ._lazy import lazy_exports as _lazy_exports

    __getattr__, __dir__ = _lazy_exports(__name__)

    del TYPE_CHECKING
