"""Makes Keras 3 resolve names from the kutils custom objects while a kutils scope is open.

Keras 3 looks names up in two kinds of tables:

* `keras.src.saving.object_registration.GLOBAL_CUSTOM_OBJECTS`, which every
  config-dict path reads (`keras.saving.deserialize_keras_object`,
  `keras.models.load_model` for `.keras` and legacy `.h5` files,
  `keras.initializers.get` / `keras.optimizers.get` of a string);
* each module's `ALL_OBJECTS_DICT` of built-ins, which `get()` of a string reads
  in `activations`, `constraints`, `losses`, `metrics` and `regularizers`
  (this is what `Dense(4, kernel_regularizer='MyObject')` calls).

Keras reads these module attributes at call time, so replacing the attribute
with a live `ChainMap` view over the kutils dict is enough: no Keras function is
wrapped, the public `keras.<module>.get` aliases see the change too, and
`remove()` puts the original objects back. Built-in tables put the kutils names
first, as Keras 2.2.4 looked custom objects up before built-ins; the registry
keeps Keras' own dict first so that `register_keras_serializable` still writes
into it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from collections import ChainMap
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ._keras import import_keras

__all__ = ["KerasNameHook", "install", "keras_is_installed"]

_REGISTRY_MODULE = "keras.src.saving.object_registration"
_REGISTRY_TABLE = "GLOBAL_CUSTOM_OBJECTS"
_BUILTIN_TABLE = "ALL_OBJECTS_DICT"
_MakeView = Callable[[MutableMapping[str, Any]], Any]
_BUILTIN_TABLE_MODULES = (
    "keras.src.activations",
    "keras.src.constraints",
    "keras.src.losses",
    "keras.src.metrics",
    "keras.src.regularizers",
)


@dataclass(frozen=True)
class _Patch:
    module: ModuleType
    attribute: str
    original: Any
    replacement: Any


class KerasNameHook:
    """The installed table replacements; `remove()` undoes them."""

    def __init__(self, patches: list[_Patch]) -> None:
        self._patches = patches

    def remove(self) -> None:
        """Puts the original Keras tables back (skipping any that someone else replaced since)."""
        for patch in reversed(self._patches):
            if getattr(patch.module, patch.attribute, None) is patch.replacement:
                setattr(patch.module, patch.attribute, patch.original)
        self._patches = []


def keras_is_installed() -> bool:
    """Tells whether `keras` can be imported, without importing it."""
    if "keras" in sys.modules:
        return sys.modules["keras"] is not None
    return importlib.util.find_spec("keras") is not None


def install(custom_objects: MutableMapping[str, Any]) -> KerasNameHook | None:
    """Makes Keras 3 see `custom_objects` (a live dict) when it resolves names.

    Args:
        custom_objects: The kutils global custom objects dict; later changes to
            it are seen too, because the tables are views, not copies.

    Returns:
        The hook to `remove()` later, or None if Keras is not installed.

    Raises:
        MissingKerasError: If Keras is installed but cannot be imported.
    """
    if not keras_is_installed():
        return None
    import_keras("kutils.CustomObjectScope")
    patches: list[_Patch] = []
    missing: list[str] = []

    def replace(module_name: str, attribute: str, make_view: _MakeView) -> None:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            missing.append(f"{module_name}.{attribute}")
            return
        original = getattr(module, attribute, None)
        if not isinstance(original, MutableMapping):
            missing.append(f"{module_name}.{attribute}")
            return
        view = make_view(original)
        setattr(module, attribute, view)
        patches.append(_Patch(module, attribute, original, view))

    replace(_REGISTRY_MODULE, _REGISTRY_TABLE, lambda table: ChainMap(table, custom_objects))
    for module_name in _BUILTIN_TABLE_MODULES:
        replace(module_name, _BUILTIN_TABLE, lambda table: ChainMap(custom_objects, table))
    if missing:
        warnings.warn(
            f"kutils.CustomObjectScope could not find the Keras name tables {missing} in this Keras "
            "version; names from the scope may not resolve there.",
            RuntimeWarning,
            stacklevel=3,
        )
    return KerasNameHook(patches)
