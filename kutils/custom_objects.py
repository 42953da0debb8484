"""Keras 2.2.4 custom object scopes: `CustomObjectScope`, `custom_object_scope`, `get_custom_objects`.

One process-global dict maps names to custom classes and functions, as in
Keras 2.2.4. A scope adds its dicts to it on entry and puts the previous
contents back on exit. While at least one scope is open (in any thread), Keras 3
also resolves names from that dict: string identifiers such as
`Dense(4, kernel_regularizer='MyObject')`, `keras.saving.deserialize_keras_object`
and `keras.models.load_model` (see `_keras_hook`). When the last scope closes,
Keras is exactly as it was.

Threads: the dict and the Keras hook are process-global, like Keras 2.2.4, so
other threads see a scope's names while it is open. Entry and exit hold a lock.
Scopes that overlap across threads without nesting (A enters, B enters, A
exits) are handled: an exit that is not the innermost removes only the names
its own scope added, and no scope's exit brings back names of a scope that has
already closed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _keras_hook

__all__ = ["CustomObjectScope", "custom_object_scope", "get_custom_objects"]

_GLOBAL_CUSTOM_OBJECTS: dict[str, Any] = {}

_MISSING = object()


@dataclass
class _OpenScope:
    """One entry of a scope: what the dict held before, and what the scope put in."""

    owner: CustomObjectScope
    backup: dict[str, Any]
    added: dict[str, Any] = field(default_factory=dict)


# Every open scope entry, in entry order, across all threads. Guarded by _LOCK.
_LOCK = threading.RLock()
_open_scopes: list[_OpenScope] = []
_keras_hook_handle: _keras_hook.KerasNameHook | None = None


class CustomObjectScope:
    """Provides a scope that changes to the global custom objects cannot escape.

    Code within a `with` statement can access custom objects by name, and
    Keras 3 resolves those names too (string identifiers of layers' arguments,
    `keras.saving.deserialize_keras_object`, `keras.models.load_model`).
    Changes to the global custom objects persist within the enclosing `with`
    statement; at its end, the global custom objects are reverted to their
    state at its beginning, also when the block raises.

    The dicts are read on entry, later ones overriding earlier ones; nested
    scopes add to the outer ones. The global dict is process-global, as in
    Keras 2.2.4: other threads see the names while the scope is open.

    Args:
        *dicts: Dictionaries of `{name: class_or_function}` to add while the
            scope is open. `None` counts as an empty dict.

    Raises:
        TypeError: If an argument is not a dict (or None), or a key is not a
            string.

    Example:

    ```python
    class MyObject(keras.regularizers.Regularizer):
        ...

    with CustomObjectScope({'MyObject': MyObject}):
        layer = keras.layers.Dense(4, kernel_regularizer='MyObject')
        # save, load, etc. will recognize custom object by name
    ```
    """

    def __init__(self, *dicts: Mapping[str, Any] | None) -> None:
        for position, objects in enumerate(dicts):
            _check_objects(objects, position)
        self.custom_objects: tuple[Mapping[str, Any] | None, ...] = dicts
        self.backup: dict[str, Any] | None = None

    def __enter__(self) -> CustomObjectScope:
        global _keras_hook_handle
        with _LOCK:
            if not _open_scopes:
                _keras_hook_handle = _keras_hook.install(_GLOBAL_CUSTOM_OBJECTS)
            entry = _OpenScope(self, dict(_GLOBAL_CUSTOM_OBJECTS))
            for objects in self.custom_objects:
                entry.added.update(objects or {})
            _GLOBAL_CUSTOM_OBJECTS.update(entry.added)
            _open_scopes.append(entry)
            self.backup = entry.backup
        return self

    def __exit__(self, *exc_info: object) -> None:
        global _keras_hook_handle
        with _LOCK:
            position = _innermost_entry_of(self)
            entry = _open_scopes.pop(position)
            later = _open_scopes[position:]
            if later:
                _undo_own_names(entry, later)
            else:
                _replace_contents(_GLOBAL_CUSTOM_OBJECTS, entry.backup)
            if not _open_scopes and _keras_hook_handle is not None:
                _keras_hook_handle.remove()
                _keras_hook_handle = None

    def __repr__(self) -> str:
        names = sorted({name for objects in self.custom_objects for name in (objects or {})})
        return f"CustomObjectScope({names})"


def custom_object_scope(*dicts: Mapping[str, Any] | None) -> CustomObjectScope:
    """Provides a scope that changes to the global custom objects cannot escape.

    Convenience wrapper for `CustomObjectScope`: code within a `with`
    statement can access custom objects by name, Keras 3 included, and the
    global custom objects are reverted on exit.

    Args:
        *dicts: Dictionaries of `{name: class_or_function}` to add to the
            custom objects while the scope is open.

    Returns:
        A `CustomObjectScope`.

    Raises:
        TypeError: If an argument is not a dict (or None), or a key is not a
            string.

    Example:

    ```python
    with custom_object_scope({'MyObject': MyObject}):
        layer = keras.layers.Dense(4, kernel_regularizer='MyObject')
    ```
    """
    return CustomObjectScope(*dicts)


def get_custom_objects() -> dict[str, Any]:
    """Retrieves a live reference to the global dictionary of custom objects.

    Inside a scope it includes the scope's names; changes made to it inside a
    scope are reverted when the scope exits. Keras 3 resolves its names only
    while a scope is open: `with CustomObjectScope(): ...` exposes names
    registered here to Keras without adding any.

    Returns:
        The global `{name: class_or_function}` dict (the same object each call).

    Example:

    ```python
    get_custom_objects().clear()
    get_custom_objects()['MyObject'] = MyObject
    ```
    """
    return _GLOBAL_CUSTOM_OBJECTS


def _check_objects(objects: object, position: int) -> None:
    if objects is None:
        return
    if not isinstance(objects, Mapping):
        raise TypeError(
            f"CustomObjectScope argument {position} must be a dict of {{name: object}}, "
            f"got {type(objects).__name__}: {objects!r}"
        )
    for name in objects:
        if not isinstance(name, str):
            raise TypeError(
                f"CustomObjectScope argument {position} has the key {name!r} "
                f"({type(name).__name__}); custom object names must be strings"
            )


def _innermost_entry_of(scope: CustomObjectScope) -> int:
    for position in range(len(_open_scopes) - 1, -1, -1):
        if _open_scopes[position].owner is scope:
            return position
    raise RuntimeError(f"{scope!r} is exited but was not entered (or was already exited)")


def _replace_contents(target: dict[str, Any], contents: Mapping[str, Any]) -> None:
    """Makes `target` equal to `contents` without a moment where kept names are missing."""
    for name in [name for name in target if name not in contents]:
        del target[name]
    target.update(contents)


def _undo_own_names(entry: _OpenScope, later: list[_OpenScope]) -> None:
    """Exits a scope that is not the innermost one: takes back only the names it added.

    A name is reset to its value before `entry` only where it still holds the
    value `entry` put there, in the live dict and in the backups of the scopes
    entered after it (so their exits do not bring the name back).
    """
    for name, value in entry.added.items():
        previous = entry.backup.get(name, _MISSING)
        for table in [_GLOBAL_CUSTOM_OBJECTS, *(scope.backup for scope in later)]:
            if table.get(name, _MISSING) is value:
                if previous is _MISSING:
                    del table[name]
                else:
                    table[name] = previous
