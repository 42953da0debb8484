"""Keras 2.2.4 `keras.utils.generic_utils` path: `from kutils.generic_utils import ...` works as it did.

Names are re-exported lazily from the kutils module that defines them (see `kutils._lazy`):
the imports under `if TYPE_CHECKING:` are the list of names, for type checkers and at run time.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .array_ops import slice_arrays as slice_arrays
    from .array_ops import to_list as to_list
    from .custom_objects import CustomObjectScope as CustomObjectScope
    from .custom_objects import custom_object_scope as custom_object_scope
    from .custom_objects import get_custom_objects as get_custom_objects
    from .functions import func_dump as func_dump
    from .functions import func_load as func_load
    from .functions import getargspec as getargspec
    from .functions import has_arg as has_arg
    from .functions import is_all_none as is_all_none
    from .functions import object_list_uid as object_list_uid
    from .functions import transpose_shape as transpose_shape
    from .functions import unpack_singleton as unpack_singleton
    from .progbar import Progbar as Progbar
    from .serialization import deserialize_keras_object as deserialize_keras_object
    from .serialization import serialize_keras_object as serialize_keras_object

__all__ = [
    "CustomObjectScope",
    "Progbar",
    "custom_object_scope",
    "deserialize_keras_object",
    "func_dump",
    "func_load",
    "get_custom_objects",
    "getargspec",
    "has_arg",
    "is_all_none",
    "object_list_uid",
    "serialize_keras_object",
    "slice_arrays",
    "to_list",
    "transpose_shape",
    "unpack_singleton",
]

if not TYPE_CHECKING:
    from ._lazy import lazy_exports as _lazy_exports

    __getattr__, __dir__ = _lazy_exports(__name__)

    del TYPE_CHECKING
