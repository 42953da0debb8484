"""Keras 2 `keras.utils.test_utils` path: `from kutils.test_utils import ...` works as it did.

Names are re-exported lazily from the kutils module that defines them (see `kutils._lazy`):
the imports under `if TYPE_CHECKING:` are the list of names, for type checkers and at run time.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .layer_testing import get_test_data as get_test_data
    from .layer_testing import keras_test as keras_test
    from .layer_testing import layer_test as layer_test

__all__ = [
    "get_test_data",
    "keras_test",
    "layer_test",
]

if not TYPE_CHECKING:
    from ._lazy import lazy_exports as _lazy_exports

    __getattr__, __dir__ = _lazy_exports(__name__)

    del TYPE_CHECKING
