"""Keras 2.2.4 `keras.utils.conv_utils` path: `from kutils.conv_utils import ...` works as it did.

Names are re-exported lazily from the kutils module that defines them (see `kutils._lazy`):
the imports under `if TYPE_CHECKING:` are the list of names, for type checkers and at run time.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .convolution import conv_input_length as conv_input_length
    from .convolution import conv_output_length as conv_output_length
    from .convolution import convert_kernel as convert_kernel
    from .convolution import deconv_length as deconv_length
    from .convolution import normalize_data_format as normalize_data_format
    from .convolution import normalize_padding as normalize_padding
    from .convolution import normalize_tuple as normalize_tuple

__all__ = [
    "conv_input_length",
    "conv_output_length",
    "convert_kernel",
    "deconv_length",
    "normalize_data_format",
    "normalize_padding",
    "normalize_tuple",
]

if not TYPE_CHECKING:
    from ._lazy import lazy_exports as _lazy_exports

    __getattr__, __dir__ = _lazy_exports(__name__)

    del TYPE_CHECKING
