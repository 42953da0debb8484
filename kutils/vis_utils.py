"""Keras 2.2.4 `keras.utils.vis_utils` path: `from kutils.vis_utils import ...` works as it did.

Names are re-exported lazily from the kutils module that defines them.
"""

from ._lazy import lazy_exports as _lazy_exports

_EXPORTS: dict[str, str] = {
    "model_to_dot": ".plotting",
    "plot_model": ".plotting",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)
