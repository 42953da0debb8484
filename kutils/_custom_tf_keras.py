"""The tf_keras (2.16 to 2.21) internals that kutils custom objects replace, in one place.

* `tf_keras.src.saving.object_registration._GLOBAL_CUSTOM_OBJECTS`: tf_keras'
  one global table, read by its string lookups (`Dense(2,
  kernel_regularizer='MyReg')`, `activations.get`), config dicts and
  `load_model` of `.h5` and `.keras` files, custom objects before built-ins.
  The merged table keeps tf_keras' own entries first so that
  `register_keras_serializable` still writes into it.
* `regularizers.get` (the function layers call, and its public aliases
  `tf_keras.regularizers.get` and `tf.keras.regularizers.get`): for a string,
  tf_keras gives a custom class itself instead of an instance (its
  initializers and constraints do instantiate), so `Dense(2,
  kernel_regularizer='MyReg')` would fail at training or saving. The wrapper
  instantiates a class named by the kutils custom objects from an empty config,
  as Keras 2.2.4 did (https://github.com/keras-team/keras/blob/2.2.4/keras/regularizers.py#L80)
  and as Keras 3 does.
* `activations.get` (and its public aliases): tf_keras writes a custom
  activation function into an `.h5` file as `{'class_name': 'function',
  'config': 'my_act', ...}` and then cannot read it back ("Unknown activation
  function: 'function'"), even with its own `custom_object_scope`. The wrapper
  resolves such a config when the function's name is in the kutils custom
  objects (Keras 2.2.4 stored the bare name and resolved it the same way).
* `Lambda.from_config`: tf_keras makes the names passed as `custom_objects`
  globals of a deserialized lambda's code (as Keras 2.2.4 did), but its `.keras`
  loader passes none. The wrapper passes the names in effect (global table,
  tf_keras' thread-local scope, argument), so a lambda sees the kutils names
  whatever the file format.

`tests/test_custom_objects_adapters.py` fails loudly if an upstream release
moves any of them.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import threading
import types
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from ._keras_hook import MergedTable, Replacement

LINE = "tf_keras"

_REGISTRY = "tf_keras.src.saving.object_registration"
_LAMBDA_MODULE = "tf_keras.src.layers.core.lambda_layer"
_REGULARIZERS_MODULES = (
    "tf_keras.src.regularizers",
    "tf_keras.regularizers",
    "tf_keras.api._v2.keras.regularizers",
)
_ACTIVATIONS_MODULES = (
    "tf_keras.src.activations",
    "tf_keras.activations",
    "tf_keras.api._v2.keras.activations",
)


def replacements(custom_objects: MutableMapping[str, Any]) -> list[Replacement]:
    """The tf_keras attributes to replace so that tf_keras sees `custom_objects`."""
    return [
        Replacement(
            _REGISTRY,
            "_GLOBAL_CUSTOM_OBJECTS",
            dict,
            lambda table: MergedTable(table, custom_objects, custom_first=False),
        ),
        Replacement(_LAMBDA_MODULE, "Lambda.from_config", classmethod, _lambda_from_config),
        *(
            Replacement(module, "get", types.FunctionType, lambda get: _regularizer_get(get, custom_objects))
            for module in _REGULARIZERS_MODULES
        ),
        *(
            Replacement(module, "get", types.FunctionType, lambda get: _activation_get(get, custom_objects))
            for module in _ACTIVATIONS_MODULES
        ),
        # Not replaced, only read by the wrapper: listed so that a moved one is reported.
        Replacement(_REGISTRY, "_THREAD_LOCAL_CUSTOM_OBJECTS", threading.local),
    ]


def _regularizer_get(
    original: Callable[[Any], Any], custom_objects: Mapping[str, Any]
) -> Callable[[Any], Any]:
    @functools.wraps(original)
    def get(identifier: Any) -> Any:
        if isinstance(identifier, str) and inspect.isclass(custom_objects.get(identifier)):
            return original({"class_name": identifier, "config": {}})
        return original(identifier)

    return get


def _activation_get(
    original: Callable[[Any], Any], custom_objects: Mapping[str, Any]
) -> Callable[[Any], Any]:
    @functools.wraps(original)
    def get(identifier: Any) -> Any:
        if isinstance(identifier, dict) and identifier.get("class_name") == "function":
            function = custom_objects.get(identifier.get("config"))  # type: ignore[arg-type]
            if callable(function):
                return function
        return original(identifier)

    return get


def _names_in_effect(custom_objects: Mapping[str, Any] | None) -> dict[str, Any]:
    registry = importlib.import_module(_REGISTRY)
    scope = vars(registry._THREAD_LOCAL_CUSTOM_OBJECTS)
    return {**registry._GLOBAL_CUSTOM_OBJECTS, **scope, **(custom_objects or {})}


def _lambda_from_config(original: classmethod[Any, Any, Any]) -> classmethod[Any, Any, Any]:
    build = original.__func__

    # `custom_objects` stays a named parameter: the legacy loader passes it only to a
    # from_config whose signature names it.
    def from_config(cls: type, config: Any, custom_objects: Mapping[str, Any] | None = None) -> Any:
        return build(cls, config, custom_objects=_names_in_effect(custom_objects))

    from_config.__doc__ = build.__doc__
    return classmethod(from_config)
