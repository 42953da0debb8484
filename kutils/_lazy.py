"""Lazy re-exports (PEP 562) shared by the package and its Keras 2 alias modules.

A module declares which public name lives in which kutils module; the name's
module is imported on first access only, so `import kutils` stays light.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    module_name: str, exports: Mapping[str, str], submodules: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Builds the `__getattr__` and `__dir__` of a module with lazy names.

    Args:
        module_name: The `__name__` of the module that re-exports.
        exports: Maps each public name to the kutils module that defines it,
            relative to the package (e.g. `{"to_categorical": ".array_ops"}`).
        submodules: Names of kutils submodules that attribute access imports
            (e.g. `kutils.np_utils` without a prior `import kutils.np_utils`).

    Returns:
        `(__getattr__, __dir__)`, to be bound at module level.
    """

    lazy_submodules = frozenset(submodules)

    def __getattr__(name: str) -> Any:
        if name in lazy_submodules:
            return importlib.import_module(f".{name}", "kutils")
        try:
            source = exports[name]
        except KeyError:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(source, "kutils"), name)
        setattr(sys.modules[module_name], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[module_name])) | set(exports) | lazy_submodules)

    return __getattr__, __dir__
