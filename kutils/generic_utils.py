"""Keras 2.2.4 `keras.utils.generic_utils` path: `from kutils.generic_utils import ...` works as it did.

Names are re-exported lazily from the kutils module that defines them.
"""

from ._lazy import lazy_exports as _lazy_exports

_EXPORTS: dict[str, str] = {
    "slice_arrays": ".array_ops",
    "to_list": ".array_ops",
    "CustomObjectScope": ".custom_objects",
    "custom_object_scope": ".custom_objects",
    "get_custom_objects": ".custom_objects",
    "func_dump": ".functions",
    "func_load": ".functions",
    "getargspec": ".functions",
    "has_arg": ".functions",
    "is_all_none": ".functions",
    "object_list_uid": ".functions",
    "transpose_shape": ".functions",
    "unpack_singleton": ".functions",
    "Progbar": ".progbar",
    "deserialize_keras_object": ".serialization",
    "serialize_keras_object": ".serialization",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)
