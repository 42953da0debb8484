"""Makes every loaded Keras line resolve names from the kutils custom objects.

What each Keras line reads (its name tables, its `Lambda.from_config`) is
listed by one small adapter per line: `kutils._custom_keras3` (Keras 3.3 to
3.15) and `kutils._custom_tf_keras` (tf_keras 2.16 to 2.21). This module applies
those replacements and takes them back:

* a name table (a module-level dict) is replaced by a `MergedTable`: a real
  dict holding Keras' own entries and the kutils ones, brought up to date on
  every change of either (under `LOCK`). Keras reads it from many threads with
  `in`, `.get()`, `[...]` and `{**table}`; on a real dict each of those is one
  atomic step, where a `ChainMap` view would let a name vanish between the
  key test and the read (a `KeyError` Keras 2.2.4 never raised). Writes
  Keras makes (`register_keras_serializable`) go through to Keras' own dict;
* `Lambda.from_config` is replaced by a wrapper that lets the code of a
  deserialized lambda see the custom object names (Keras 2.2.4 made them
  globals of that code).

Keras reads these attributes at call time, so the public aliases
(`keras.regularizers.get`, `tf.keras.utils.get_custom_objects`, ...) see the
change too. `KerasNameHook.remove()` puts every original object back.

The active line (see `kutils._keras.import_keras`) is imported when the hook is
installed; another line is hooked as soon as it is found in `sys.modules` at a
later change of the custom objects (`follow_loaded_lines`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Self

from ._keras import active_line, import_keras

__all__ = [
    "LOCK",
    "KerasNameHook",
    "MergedTable",
    "Replacement",
    "adapters",
    "find_target",
    "install",
    "keras_is_installed",
    "missing_targets",
]

# One adapter module per Keras line; each has LINE (its top-level module) and replacements(custom_objects).
_ADAPTER_MODULES = ("kutils._custom_keras3", "kutils._custom_tf_keras")


# Guards the kutils dict, the open scopes and every MergedTable (kutils.custom_objects uses it too).
LOCK = threading.RLock()
_MISSING = object()


def replace_contents(target: dict[str, Any], contents: Mapping[str, Any]) -> None:
    """Makes the dict `target` equal to `contents` without a moment where a kept name is missing.

    Uses the plain `dict` methods, so subclasses that react to changes are not told.
    """
    for name in [name for name in target if name not in contents]:
        dict.__delitem__(target, name)
    dict.update(target, contents)


class MergedTable(dict[str, Any]):
    """A Keras name table that also holds the kutils names, as a real dict.

    Args:
        keras_table: Keras' own dict, which keeps every write made through this table.
        custom_objects: The kutils dict.
        custom_first: Whether a kutils name wins over a Keras entry of the same name.
    """

    def __init__(
        self, keras_table: dict[str, Any], custom_objects: Mapping[str, Any], custom_first: bool
    ) -> None:
        super().__init__()
        self.keras_table = keras_table
        self._custom_objects = custom_objects
        self._custom_first = custom_first
        self.refresh()

    def refresh(self, names: Iterable[str] | None = None) -> None:
        """Brings the contents up to date with Keras' dict and the kutils dict.

        Args:
            names: The only names that may have changed; None to rebuild the whole table.
        """
        with LOCK:
            if names is None:
                if self._custom_first:
                    replace_contents(self, {**self.keras_table, **self._custom_objects})
                else:
                    replace_contents(self, {**self._custom_objects, **self.keras_table})
                return
            first, second = (
                (self._custom_objects, self.keras_table)
                if self._custom_first
                else (self.keras_table, self._custom_objects)
            )
            for name in names:
                value = first.get(name, second.get(name, _MISSING))
                if value is _MISSING:
                    dict.pop(self, name, None)
                else:
                    dict.__setitem__(self, name, value)

    def _write(self, change: Callable[[dict[str, Any]], Any], names: Iterable[str] | None = None) -> Any:
        with LOCK:
            result = change(self.keras_table)
            self.refresh(names)
        return result

    def __setitem__(self, name: str, value: Any) -> None:
        self._write(lambda table: table.__setitem__(name, value), [name])

    def __delitem__(self, name: str) -> None:
        self._write(lambda table: table.__delitem__(name), [name])

    def __ior__(self, other: Any) -> Self:  # type: ignore[override,misc]  # typeshed ties |= to dict.__or__
        self._write(lambda table: table.update(other))
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._write(lambda table: table.update(*args, **kwargs))

    def setdefault(self, name: str, default: Any = None) -> Any:
        return self._write(lambda table: table.setdefault(name, default))

    def pop(self, name: str, *default: Any) -> Any:
        return self._write(lambda table: table.pop(name, *default))

    def popitem(self) -> tuple[str, Any]:
        item: tuple[str, Any] = self._write(lambda table: table.popitem())
        return item

    def clear(self) -> None:
        self._write(lambda table: table.clear())


@dataclass(frozen=True)
class Replacement:
    """One Keras attribute to replace while the hook is installed.

    Attributes:
        module: The module that holds the attribute (or the class holding it).
        attribute: The attribute, `"NAME"` on the module or `"Class.NAME"` on a class of it.
        expected: The type the original must have; anything else means upstream moved it.
        make: Builds the replacement from the original; None for an attribute the
            adapter only reads (it is checked, not replaced).
    """

    module: str
    attribute: str
    expected: type | tuple[type, ...]
    make: Callable[[Any], Any] | None = None

    @property
    def where(self) -> str:
        """The dotted path of the attribute, as named in warnings."""
        return f"{self.module}.{self.attribute}"


@dataclass(frozen=True)
class _Applied:
    owner: Any
    name: str
    original: Any
    replacement: Any


def find_target(replacement: Replacement) -> tuple[Any, str, Any] | None:
    """Finds the owner object, the attribute name and the original of `replacement`.

    Returns:
        `(owner, name, original)`, or None if the module, class or attribute is
        missing or the original is not of the expected type.
    """
    try:
        owner: Any = importlib.import_module(replacement.module)
    except ImportError:
        return None
    *path, name = replacement.attribute.split(".")
    for part in path:
        owner = getattr(owner, part, None)
    original = vars(owner).get(name) if owner is not None else None
    if not isinstance(original, replacement.expected):
        return None
    return owner, name, original


@functools.cache
def adapters() -> tuple[ModuleType, ...]:
    """The custom-object adapter module of each Keras line (importing them imports no Keras)."""
    return tuple(importlib.import_module(name) for name in _ADAPTER_MODULES)


def missing_targets(adapter: ModuleType) -> list[str]:
    """Lists the attributes an adapter needs that this Keras version lacks (empty when all are there).

    Args:
        adapter: `kutils._custom_keras3` or `kutils._custom_tf_keras`; its Keras
            line must be importable.
    """
    return [item.where for item in adapter.replacements({}) if find_target(item) is None]


class KerasNameHook:
    """The replacements applied to the loaded Keras lines; `remove()` undoes them."""

    def __init__(self, custom_objects: MutableMapping[str, Any]) -> None:
        self._custom_objects = custom_objects
        self._applied: list[_Applied] = []
        self._hooked_lines: set[str] = set()
        self._seen: dict[str, Any] = dict(custom_objects)  # the kutils names the tables hold now

    def follow_loaded_lines(self) -> None:
        """Hooks every Keras line imported in this process and not hooked yet.

        Warns (`RuntimeWarning`) naming the attributes a line lacks; the others
        are still replaced.
        """
        for adapter in adapters():
            if adapter.LINE in self._hooked_lines or sys.modules.get(adapter.LINE) is None:
                continue
            self.refresh()  # the tables already in place catch up; the new ones start from the whole dict
            self._hooked_lines.add(adapter.LINE)
            self._hook(adapter)

    def _hook(self, adapter: ModuleType) -> None:
        missing: list[str] = []
        for replacement in adapter.replacements(self._custom_objects):
            target = find_target(replacement)
            if target is None:
                missing.append(replacement.where)
                continue
            owner, name, original = target
            if replacement.make is None:
                continue
            new = replacement.make(original)
            setattr(owner, name, new)
            self._applied.append(_Applied(owner, name, original, new))
        if missing:
            warnings.warn(
                f"kutils custom objects could not find {missing} in this {adapter.LINE} version; "
                "names from kutils may not resolve there.",
                RuntimeWarning,
                stacklevel=5,
            )

    def refresh(self) -> None:
        """Brings every replaced name table up to date with the kutils dict (only the changed names)."""
        with LOCK:
            current = dict(self._custom_objects)
            changed = [
                name
                for name in current.keys() | self._seen.keys()
                if current.get(name, _MISSING) is not self._seen.get(name, _MISSING)
            ]
            self._seen = current
            if changed:
                for applied in self._applied:
                    if isinstance(applied.replacement, MergedTable):
                        applied.replacement.refresh(changed)

    def remove(self) -> None:
        """Puts the original Keras objects back (skipping any that someone else replaced since)."""
        for applied in reversed(self._applied):
            if vars(applied.owner).get(applied.name) is applied.replacement:
                setattr(applied.owner, applied.name, applied.original)
        self._applied = []
        self._hooked_lines = set()


def keras_is_installed() -> bool:
    """Tells whether the active Keras line can be imported, without importing it."""
    line = active_line()
    if line in sys.modules:
        return sys.modules[line] is not None
    return importlib.util.find_spec(line) is not None


def install(custom_objects: MutableMapping[str, Any]) -> KerasNameHook | None:
    """Makes the active Keras line (and any other loaded one) see `custom_objects` when it resolves names.

    Args:
        custom_objects: The kutils global custom objects dict; later changes to
            it are seen too, because the tables are views, not copies.

    Returns:
        The hook to `remove()` later, or None if no Keras is installed.

    Raises:
        MissingKerasError: If Keras is installed but cannot be imported.
    """
    if not keras_is_installed():
        return None
    import_keras("kutils custom objects")
    hook = KerasNameHook(custom_objects)
    hook.follow_loaded_lines()
    return hook
