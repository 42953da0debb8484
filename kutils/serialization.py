"""Keras 2.2.4 `serialize_keras_object` / `deserialize_keras_object`, working on Keras 3 objects.

The format is Keras 2.2.4's: an object with `get_config()` becomes
`{'class_name': <its class name>, 'config': <its get_config()>}`, anything else
with a `__name__` (a function, a class) becomes that name. Keras 3 layers,
regularizers, optimizers and models round-trip through it, because their
`get_config()` / `from_config()` pairs are used as they are.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from .custom_objects import CustomObjectScope, get_custom_objects
from .errors import ImproperConfigError, UninterpretableIdentifierError, UnknownObjectError
from .functions import has_arg

__all__ = [
    "ImproperConfigError",
    "UninterpretableIdentifierError",
    "UnknownObjectError",
    "deserialize_keras_object",
    "serialize_keras_object",
]


def serialize_keras_object(instance: Any) -> dict[str, Any] | str | None:
    """Serializes a Keras object (or any object with `get_config()`) into a config.

    Args:
        instance: The object: one with a `get_config()` method (a Keras 3
            layer, regularizer, optimizer, model or your own class), a
            function or class (serialized by name), or None.

    Returns:
        `{'class_name': type(instance).__name__, 'config': instance.get_config()}`
        for an object with `get_config()`; the `__name__` of a function or
        class; None for None.

    Raises:
        ValueError: If `instance` has neither `get_config()` nor `__name__`;
            the message names it.

    Example:

    ```python
    >>> serialize_keras_object(keras.regularizers.L2(0.5))
    {'class_name': 'L2', 'config': {'l2': 0.5}}
    ```
    """
    if instance is None:
        return None
    if hasattr(instance, "get_config") and not inspect.isclass(instance):
        return {"class_name": type(instance).__name__, "config": instance.get_config()}
    if hasattr(instance, "__name__"):
        return str(instance.__name__)
    raise ValueError(
        f"Cannot serialize {instance!r} ({type(instance).__name__}): it has neither a get_config() "
        "method nor a __name__"
    )


def deserialize_keras_object(
    identifier: Any,
    module_objects: Mapping[str, Any] | None = None,
    custom_objects: Mapping[str, Any] | None = None,
    printable_module_name: str = "object",
) -> Any:
    """Turns a config dict or a name back into the object (Keras 2.2.4 lookup rules).

    A name is looked up in `custom_objects`, then in the global custom objects
    (`get_custom_objects()`, which includes any open `CustomObjectScope`), then
    in `module_objects`. For a config dict, the class found is rebuilt with
    `cls.from_config(config['config'])`, passing the merged custom objects as
    `custom_objects=` when `from_config` accepts it and otherwise inside a
    `CustomObjectScope(custom_objects)`, so that names nested in the config
    (e.g. a Keras 3 layer's `'kernel_regularizer': 'MyObject'`) resolve too.
    A class without `from_config` (e.g. a factory function) is called with the
    config as keyword arguments. For a name, the object found is returned as
    it is (a function stays a function).

    Args:
        identifier: A config dict `{'class_name': ..., 'config': ...}`, a name,
            or None.
        module_objects: The built-in objects, `{name: object}`, looked up last.
        custom_objects: `{name: object}`, looked up first.
        printable_module_name: What the object is, for error messages (e.g.
            `'regularizer'`).

    Returns:
        The object, or None if `identifier` is None (Keras 2.2.5 behaviour;
        2.2.4 raised).

    Raises:
        ImproperConfigError: (a `ValueError`) If a dict lacks `'class_name'`
            or `'config'`.
        UnknownObjectError: (a `ValueError`) If the name is found nowhere; the
            message is `'Unknown <printable_module_name>: <name>'` and says how
            to provide it.
        UninterpretableIdentifierError: (a `ValueError` and `TypeError`) If
            `identifier` is of another type.

    Example:

    ```python
    >>> config = serialize_keras_object(keras.layers.Dense(3))
    >>> deserialize_keras_object(config, module_objects={'Dense': keras.layers.Dense})
    <Dense name=dense_1, built=False>
    ```
    """
    if identifier is None:
        return None
    if isinstance(identifier, Mapping):
        if "class_name" not in identifier or "config" not in identifier:
            raise ImproperConfigError(
                f"Improper config format: {identifier!r} (a config dict needs 'class_name' and 'config' keys)"
            )
        cls = _look_up(identifier["class_name"], module_objects, custom_objects, printable_module_name)
        return _instantiate(cls, identifier["config"], custom_objects or {})
    if isinstance(identifier, str):
        return _look_up(identifier, module_objects, custom_objects, printable_module_name)
    raise UninterpretableIdentifierError(
        f"Could not interpret serialized {printable_module_name}: {identifier!r} "
        f"({type(identifier).__name__}); expected a name, a config dict or None"
    )


def _look_up(
    name: Any,
    module_objects: Mapping[str, Any] | None,
    custom_objects: Mapping[str, Any] | None,
    printable_module_name: str,
) -> Any:
    for table in (custom_objects or {}, get_custom_objects(), module_objects or {}):
        if name in table:
            return table[name]
    raise UnknownObjectError(
        f"Unknown {printable_module_name}: {name}. Pass it in `custom_objects`, or open "
        f"`CustomObjectScope({{{name!r}: ...}})` around this call."
    )


def _instantiate(cls: Any, config: Any, custom_objects: Mapping[str, Any]) -> Any:
    if hasattr(cls, "from_config"):
        if has_arg(cls.from_config, "custom_objects"):
            merged = {**get_custom_objects(), **custom_objects}
            return cls.from_config(config, custom_objects=merged)
        with CustomObjectScope(custom_objects):
            return cls.from_config(config)
    with CustomObjectScope(custom_objects):
        return cls(**config)
