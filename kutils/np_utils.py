"""Keras 2.2.4 `keras.utils.np_utils` path: `from kutils.np_utils import ...` works as it did.

Names are re-exported lazily from the kutils module that defines them.
"""

from ._lazy import lazy_exports as _lazy_exports

_EXPORTS: dict[str, str] = {
    "normalize": ".array_ops",
    "to_categorical": ".array_ops",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)
