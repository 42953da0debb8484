"""Keras 2.2.4 `keras.utils.layer_utils` path: `from kutils.layer_utils import ...` works as it did.

Names are re-exported lazily from the kutils module that defines them (see `kutils._lazy`):
the imports under `if TYPE_CHECKING:` are the list of names, for type checkers and at run time.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .layer_ops import convert_all_kernels_in_model as convert_all_kernels_in_model
    from .layer_ops import convert_dense_weights_data_format as convert_dense_weights_data_format
    from .layer_ops import get_source_inputs as get_source_inputs
    from .summary import count_params as count_params
    from .summary import print_summary as print_summary

__all__ = [
    "convert_all_kernels_in_model",
    "convert_dense_weights_data_format",
    "count_params",
    "get_source_inputs",
    "print_summary",
]

if not TYPE_CHECKING:
    from ._lazy import lazy_exports as _lazy_exports

    __getattr__, __dir__ = _lazy_exports(__name__)

    del TYPE_CHECKING
