"""Keras 2.2.4 `keras.utils.layer_utils` path: `from kutils.layer_utils import ...` works as it did.

Names are re-exported lazily from the kutils module that defines them.
"""

from ._lazy import lazy_exports as _lazy_exports

_EXPORTS: dict[str, str] = {
    "convert_all_kernels_in_model": ".layer_ops",
    "convert_dense_weights_data_format": ".layer_ops",
    "get_source_inputs": ".layer_ops",
    "count_params": ".summary",
    "print_summary": ".summary",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)
