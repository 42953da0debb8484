"""Keras 2.2.4 custom object scopes: `CustomObjectScope`, `custom_object_scope`, `get_custom_objects`.

One process-global dict maps names to custom classes and functions, as in
Keras 2.2.4, and the active Keras (Keras 3 or tf_keras) resolves names from it
for as long as it holds names or a scope is open: string identifiers such as
`Dense(4, kernel_regularizer='MyObject')`, config dicts, `load_model`, and the
code of deserialized `Lambda` layers (see `_keras_hook`). A scope adds its dicts
to it on entry and puts the previous contents back on exit. When the dict is
empty again and no scope is open, Keras is exactly as it was.

Threads: the dict and the Keras hook are process-global, like Keras 2.2.4, so
other threads see a scope's names while it is open. Entry, exit and the hook
hold a lock. Scopes that overlap across threads without nesting (A enters, B
enters, A exits) are handled: an exit that is not the innermost removes only
the names its own scope added and no later scope added again, and no scope's
exit brings back names of a scope that has already closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from . import _keras_hook

__all__ = ["CustomObjectScope", "custom_object_scope", "get_custom_objects"]

_MISSING = object()


class _CustomObjectTable(dict[str, Any]):
    """The global dict; each change through it tells Keras whether to see it.

    It installs the Keras hook when it gains names and removes it when it is
    empty and no scope is open, so `get_custom_objects()['X'] = X` reaches
    Keras at once and `del get_custom_objects()['X']` leaves Keras as it was.
    Scope entry and exit change it with the plain `dict` methods, then update
    the hook once.
    """

    def __setitem__(self, name: str, value: Any) -> None:
        with _LOCK:
            super().__setitem__(name, value)
            _follow_table()

    def __delitem__(self, name: str) -> None:
        with _LOCK:
            super().__delitem__(name)
            _follow_table()

    def __ior__(self, other: Any) -> Self:  # type: ignore[override,misc]  # typeshed ties |= to dict.__or__
        with _LOCK:
            super().__ior__(other)
            _follow_table()
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        with _LOCK:
            super().update(*args, **kwargs)
            _follow_table()

    def setdefault(self, name: str, default: Any = None) -> Any:
        with _LOCK:
            value = super().setdefault(name, default)
            _follow_table()
        return value

    def pop(self, name: str, *default: Any) -> Any:
        with _LOCK:
            value = super().pop(name, *default)
            _follow_table()
        return value

    def popitem(self) -> tuple[str, Any]:
        with _LOCK:
            item = super().popitem()
            _follow_table()
        return item

    def clear(self) -> None:
        with _LOCK:
            super().clear()
            _follow_table()


_GLOBAL_CUSTOM_OBJECTS = _CustomObjectTable()


@dataclass
class _OpenScope:
    """One entry of a scope: what the dict held before, and what the scope put in."""

    owner: CustomObjectScope
    backup: dict[str, Any]
    added: dict[str, Any] = field(default_factory=dict)


# Every open scope entry, in entry order, across all threads. Guarded by _LOCK.
_LOCK = _keras_hook.LOCK
_open_scopes: list[_OpenScope] = []
_keras_hook_handle: _keras_hook.KerasNameHook | None = None


def _follow_table() -> None:
    """Hooks Keras while the dict holds names or a scope is open; unhooks it otherwise."""
    global _keras_hook_handle
    with _LOCK:
        if _GLOBAL_CUSTOM_OBJECTS or _open_scopes:
            if _keras_hook_handle is None:
                _keras_hook_handle = _keras_hook.install(_GLOBAL_CUSTOM_OBJECTS)
            else:
                _keras_hook_handle.follow_loaded_lines()
                _keras_hook_handle.refresh()
        elif _keras_hook_handle is not None:
            _keras_hook_handle.remove()
            _keras_hook_handle = None


class CustomObjectScope:
    """Provides a scope that changes to the global custom objects cannot escape.

    Code within a `with` statement can access custom objects by name, and
    the active Keras (Keras 3 or tf_keras) resolves those names too (string
    identifiers of layers' arguments, config dicts, `load_model`, and the code
    of `Lambda` layers deserialized inside the scope, as in Keras 2.2.4).
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
        with _LOCK:
            entry = _OpenScope(self, dict(_GLOBAL_CUSTOM_OBJECTS))
            for objects in self.custom_objects:
                entry.added.update(objects or {})
            _open_scopes.append(entry)
            dict.update(_GLOBAL_CUSTOM_OBJECTS, entry.added)
            try:
                _follow_table()
            except BaseException:  # Keras installed but broken: leave everything as it was
                _open_scopes.pop()
                _keras_hook.replace_contents(_GLOBAL_CUSTOM_OBJECTS, entry.backup)
                raise
            self.backup = entry.backup
        return self

    def __exit__(self, *exc_info: object) -> None:
        with _LOCK:
            position = _innermost_entry_of(self)
            entry = _open_scopes.pop(position)
            later = _open_scopes[position:]
            if later:
                _undo_own_names(entry, later)
            else:
                _keras_hook.replace_contents(_GLOBAL_CUSTOM_OBJECTS, entry.backup)
            _follow_table()

    def __repr__(self) -> str:
        names = sorted({name for objects in self.custom_objects for name in (objects or {})})
        return f"CustomObjectScope({names})"


def custom_object_scope(*dicts: Mapping[str, Any] | None) -> CustomObjectScope:
    """Provides a scope that changes to the global custom objects cannot escape.

    Convenience wrapper for `CustomObjectScope`: code within a `with`
    statement can access custom objects by name, Keras included, and the
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
    scope are reverted when the scope exits. As in Keras 2.2.4, names set here
    (inside or outside any scope) are resolved by the active Keras at once:
    string identifiers, config dicts, `load_model`, `Lambda` code. Removing a
    name removes it there too.

    Returns:
        The global `{name: class_or_function}` dict (the same object each call).

    Example:

    ```python
    get_custom_objects()['MyObject'] = MyObject
    layer = keras.layers.Dense(4, kernel_regularizer='MyObject')
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


def _undo_own_names(entry: _OpenScope, later: list[_OpenScope]) -> None:
    """Exits a scope that is not the innermost one: takes back only the names it added.

    The tables that hold `entry`'s effect are, in order, the backups of the
    scopes entered after it and then the live dict. A name is reset to its value
    before `entry` in each of them where it still holds the value `entry` put
    there, up to and including the backup of the first later scope that added
    the name itself: from there on the name is that scope's (the live dict
    keeps it while that scope is open, even if both added the same object).
    """
    for name, value in entry.added.items():
        previous = entry.backup.get(name, _MISSING)
        for table, added_again in _tables_after(entry, later, name):
            if table.get(name, _MISSING) is value:
                if previous is _MISSING:
                    dict.__delitem__(table, name)
                else:
                    dict.__setitem__(table, name, previous)
            if added_again:
                break


def _tables_after(
    entry: _OpenScope, later: list[_OpenScope], name: str
) -> Iterable[tuple[dict[str, Any], bool]]:
    """Each table made after `entry`, and whether the scope it belongs to set `name` itself."""
    for scope in later:
        yield scope.backup, name in scope.added
    yield _GLOBAL_CUSTOM_OBJECTS, False
