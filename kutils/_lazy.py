"""Lazy re-exports (PEP 562) for the package and its Keras 2 path modules, with one list of names.

A re-exporting module lists its public names ONCE, as imports under
`if TYPE_CHECKING:`:

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from . import np_utils as np_utils
        from .array_ops import to_categorical as to_categorical

(`from . import *` there stands for the `__all__` of that module.) Type
checkers (mypy, pyright) and editors read those imports, so every name has
its real type. At run time the block does not run; instead the module's
`__getattr__` (built here) reads the same block from the module's source on
the first attribute access, and imports the defining module only when one of
its names is used, so `import kutils` loads nothing heavy. The idea is the one
of `lazy_loader.attach_stub` (https://github.com/scientific-python/lazy-loader),
without a separate `.pyi` file and without its import cost.

`TYPE_CHECKING = False` (rather than `from typing import TYPE_CHECKING`) keeps
`typing` out of `import kutils`; mypy and pyright treat the name the same way.
"""

from __future__ import annotations

import importlib
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Exported name -> (the module to import, relative to the re-exporting module's package;
# the attribute to take from it, or None when the name is that module itself).
LazyTable = dict[str, tuple[str, "str | None"]]


def lazy_exports(module_name: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Builds the `__getattr__` and `__dir__` of a module whose names are listed under `if TYPE_CHECKING:`.

    Args:
        module_name: The `__name__` of the re-exporting module.

    Returns:
        `(__getattr__, __dir__)`, to be bound at module level.
    """
    table: LazyTable = {}

    def exports() -> LazyTable:
        if not table:
            table.update(type_checking_imports(module_name))
        return table

    def __getattr__(name: str) -> Any:
        try:
            source, attribute = exports()[name]
        except KeyError:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}") from None
        module = sys.modules[module_name]
        imported = importlib.import_module(source, module.__package__)
        value = imported if attribute is None else getattr(imported, attribute)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[module_name])) | set(exports()))

    return __getattr__, __dir__


def type_checking_imports(module_name: str) -> LazyTable:
    """The relative imports under the top-level `if TYPE_CHECKING:` of an imported module.

    Args:
        module_name: The `__name__` of an imported module.

    Returns:
        Each exported name -> (the relative module to import, the attribute to
        take from it, or None when the name is that module itself).

    Raises:
        ImportError: If the module's source file cannot be read.
    """
    import ast

    module = sys.modules[module_name]
    path = module.__file__
    if path is None or not path.endswith(".py"):
        raise ImportError(f"kutils needs the source of {module_name} ({path}) to find its lazy names.")
    with open(path, encoding="utf-8") as stream:
        tree = ast.parse(stream.read(), path)
    names: LazyTable = {}
    for statement in tree.body:
        if not (isinstance(statement, ast.If) and ast.unparse(statement.test) == "TYPE_CHECKING"):
            continue
        for node in statement.body:
            if not (isinstance(node, ast.ImportFrom) and node.level):
                continue
            prefix = "." * node.level
            for alias in node.names:
                public = alias.asname or alias.name
                if alias.name == "*":  # `from . import *`: the `__all__` of that module, from it
                    source = prefix + (node.module or "")
                    exported = importlib.import_module(source, module.__package__).__all__
                    names.update((name, (source, name)) for name in exported)
                elif node.module is None:  # `from . import np_utils as np_utils`
                    names[public] = (prefix + alias.name, None)
                else:
                    names[public] = (prefix + node.module, alias.name)
    return names
