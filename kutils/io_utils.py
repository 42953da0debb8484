"""Keras 2.2.4 `keras.utils.io_utils` path: `from kutils.io_utils import ...` works as it did.

Names are re-exported lazily from the kutils module that defines them.
"""

from ._lazy import lazy_exports as _lazy_exports

_EXPORTS: dict[str, str] = {
    "H5Dict": ".hdf5",
    "HDF5Matrix": ".hdf5",
    "h5dict": ".hdf5",
    "ask_to_proceed_with_overwrite": ".prompts",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)
