"""Keras 2.2.4 `keras.utils.np_utils` path: `from kutils.np_utils import ...` works as it did.

Names are re-exported lazily from the kutils module that defines them (see `kutils._lazy`):
the imports under `if TYPE_CHECKING:` are the list of names, for type checkers and at run time.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .array_ops import normalize as normalize
    from .array_ops import to_categorical as to_categorical

__all__ = [
    "normalize",
    "to_categorical",
]

if not TYPE_CHECKING:
    from ._lazy import lazy_exports as _lazy_exports

    __getattr__, __dir__ = _lazy_exports(__name__)

    del TYPE_CHECKING
