"""Keras 2.2.4 `keras.utils.vis_utils` path: `from kutils.vis_utils import ...` works as it did.

Names are re-exported lazily from the kutils module that defines them (see `kutils._lazy`):
the imports under `if TYPE_CHECKING:` are the list of names, for type checkers and at run time.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .plotting import model_to_dot as model_to_dot
    from .plotting import plot_model as plot_model

__all__ = [
    "model_to_dot",
    "plot_model",
]

if not TYPE_CHECKING:
    from ._lazy import lazy_exports as _lazy_exports

    __getattr__, __dir__ = _lazy_exports(__name__)

    del TYPE_CHECKING
