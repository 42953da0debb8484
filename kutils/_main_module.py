"""What worker processes started by 'forkserver' or 'spawn' can do with the program's `__main__` module.

Such a worker rebuilds `__main__` before it runs: it imports the main script
again (under the name `__mp_main__`) so that classes defined there can be
unpickled. Keras 2.2.4 forked its workers instead, so two kinds of Keras 2
programs break under those start methods:

- a script without an `if __name__ == "__main__":` guard: the worker runs the
  whole script again, starting workers of its own, and dies
  (https://docs.python.org/3/library/multiprocessing.html#the-spawn-and-forkserver-start-methods);
- a notebook, `python -c` or an interactive session: there is no file to
  import, so a `Sequence` class defined there cannot be found by the worker.

`kutils._workers` forks for the first (as Keras 2.2.4 did) and sends the
sequence by value with cloudpickle for the second.
"""

from __future__ import annotations

import ast
import sys
from functools import lru_cache

__all__ = ["main_is_importable", "unguarded_main_script"]


def _main_path() -> str | None:
    """The file a spawned worker would import as `__mp_main__`, if any."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    path = getattr(spec, "origin", None) if spec is not None else getattr(main, "__file__", None)
    return path if isinstance(path, str) else None


def main_is_importable() -> bool:
    """Whether a spawned worker can import the program's `__main__` (False in notebooks and `python -c`)."""
    return _main_path() is not None


def unguarded_main_script() -> str | None:
    """The main script's path when it has top-level code but no `if __name__ == "__main__":` guard."""
    path = _main_path()
    return path if path is not None and not _has_main_guard(path) else None


@lru_cache(maxsize=8)
def _has_main_guard(path: str) -> bool:
    """Whether the Python file at `path` has a top-level `if` that tests `__name__` against '__main__'.

    A file that cannot be read or parsed (compiled, zipped, or not Python)
    counts as guarded: kutils then keeps its default start method.
    """
    try:
        with open(path, "rb") as stream:
            tree = ast.parse(stream.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return True
    return any(isinstance(node, ast.If) and _tests_main_name(node.test) for node in tree.body)


def _tests_main_name(test: ast.expr) -> bool:
    names = {node.id for node in ast.walk(test) if isinstance(node, ast.Name)}
    constants = {node.value for node in ast.walk(test) if isinstance(node, ast.Constant)}
    return "__name__" in names and "__main__" in constants
