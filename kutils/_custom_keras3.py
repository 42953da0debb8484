"""The Keras 3 (3.3 to 3.15) internals that kutils custom objects replace, in one place.

* `keras.src.saving.object_registration.GLOBAL_CUSTOM_OBJECTS`: read by every
  config-dict path (`keras.saving.deserialize_keras_object`, `load_model` of
  `.keras` and legacy `.h5` files, `initializers.get`/`optimizers.get` of a
  string). The merged table keeps Keras' own entries first so that
  `register_keras_serializable` still writes into it.
* `ALL_OBJECTS_DICT` of `activations`, `constraints`, `losses`, `metrics` and
  `regularizers`: read by their `get()` of a string
  (`Dense(4, kernel_regularizer='MyObject')`). The merged table puts the kutils
  names first, as Keras 2.2.4 looked custom objects up before built-ins.
* `Lambda.from_config`: Keras 3 builds a serialized lambda with
  `python_utils.func_load`, whose code then sees only the globals of
  `keras.src.utils.python_utils`. The wrapper gives such functions the custom
  object names as extra globals (Keras 2.2.4 did the same:
  https://github.com/keras-team/keras/blob/2.2.4/keras/layers/core.py#L720),
  so `with CustomObjectScope({'tf': tf}): load_model(...)` runs lambdas that
  call `tf.nn.lrn`.

`tests/test_custom_objects_adapters.py` fails loudly if an upstream release
moves any of them.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Mapping, MutableMapping
from typing import Any

from ._keras_hook import MergedTable, Replacement

LINE = "keras"

_REGISTRY = "keras.src.saving.object_registration"
_BUILTIN_TABLE_MODULES = (
    "keras.src.activations",
    "keras.src.constraints",
    "keras.src.losses",
    "keras.src.metrics",
    "keras.src.regularizers",
)
_LAMBDA_MODULE = "keras.src.layers.core.lambda_layer"
_FUNC_LOAD_MODULE = "keras.src.utils.python_utils"
_GLOBAL_STATE_MODULE = "keras.src.backend.common.global_state"
# The Lambda attributes that may hold a function built by func_load.
_LAMBDA_FUNCTIONS = ("function", "_output_shape", "mask")


def replacements(custom_objects: MutableMapping[str, Any]) -> list[Replacement]:
    """The Keras 3 attributes to replace so that Keras sees `custom_objects`."""
    tables = [
        Replacement(
            module,
            "ALL_OBJECTS_DICT",
            dict,
            lambda table: MergedTable(table, custom_objects, custom_first=True),
        )
        for module in _BUILTIN_TABLE_MODULES
    ]
    return [
        Replacement(
            _REGISTRY,
            "GLOBAL_CUSTOM_OBJECTS",
            dict,
            lambda table: MergedTable(table, custom_objects, custom_first=False),
        ),
        *tables,
        Replacement(_LAMBDA_MODULE, "Lambda.from_config", classmethod, _lambda_from_config),
        # Not replaced, only relied on by the wrapper: listed so that a moved one is reported.
        Replacement(_GLOBAL_STATE_MODULE, "get_global_attribute", types.FunctionType),
        Replacement(_FUNC_LOAD_MODULE, "func_load", types.FunctionType),
    ]


def lambda_globals_module() -> types.ModuleType:
    """The module whose globals Keras 3 gives to the code of a deserialized lambda."""
    return importlib.import_module(_FUNC_LOAD_MODULE)


def _names_in_effect(custom_objects: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every custom object name Keras would resolve now: registry (kutils included), scope, argument."""
    registry = importlib.import_module(_REGISTRY)
    global_state = importlib.import_module(_GLOBAL_STATE_MODULE)
    scope = global_state.get_global_attribute("custom_objects_scope_dict", {}) or {}
    return {**registry.GLOBAL_CUSTOM_OBJECTS, **scope, **(custom_objects or {})}


def _lambda_from_config(original: classmethod[Any, Any, Any]) -> classmethod[Any, Any, Any]:
    build = original.__func__

    # `custom_objects` stays a named parameter: Keras' legacy loader passes it only to a
    # from_config whose signature names it.
    def from_config(
        cls: type, /, config: Any, custom_objects: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        layer = build(cls, config, custom_objects=custom_objects, **kwargs)
        loaded_globals = vars(lambda_globals_module())
        names = None
        for attribute in _LAMBDA_FUNCTIONS:
            function = getattr(layer, attribute, None)
            if isinstance(function, types.FunctionType) and function.__globals__ is loaded_globals:
                names = names if names is not None else _names_in_effect(custom_objects)
                if names:
                    setattr(layer, attribute, _with_globals(function, {**loaded_globals, **names}))
        return layer

    from_config.__doc__ = build.__doc__
    return classmethod(from_config)


def _with_globals(function: types.FunctionType, globals_: dict[str, Any]) -> types.FunctionType:
    """The same code, defaults and closure, run with other globals."""
    rebound = types.FunctionType(
        function.__code__, globals_, function.__name__, function.__defaults__, function.__closure__
    )
    rebound.__kwdefaults__ = function.__kwdefaults__
    rebound.__dict__.update(function.__dict__)
    return rebound
