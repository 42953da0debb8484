"""Writes the API reference pages (`docs/api/*.md`) from the package's own lists of names.

One page per kutils module that defines public names (documented in full with
autodoc, under the name users import: `kutils.to_categorical`), one for
`kutils.errors`, and one per Keras 2.2.4 module path (`kutils.np_utils`, ...)
listing its names with a link to their entry; names only a Keras 2 path offers
(`kutils.conv_utils.normalize_tuple`) are documented in full on that path's
page. Pages are rewritten only when their text changes, so Sphinx rebuilds
nothing it need not.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["KERAS2_PATHS", "write_pages"]

# The Keras 2.2.4 `keras.utils` module paths, in the order of its documentation.
KERAS2_PATHS = (
    "np_utils",
    "generic_utils",
    "data_utils",
    "io_utils",
    "layer_utils",
    "vis_utils",
    "multi_gpu_utils",
    "conv_utils",
    "test_utils",
)


def _summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _directive(obj: Any) -> str:
    if inspect.isclass(obj):
        return "autoexception" if issubclass(obj, BaseException) else "autoclass"
    return "autofunction"


def _alias_entry(target: str, name: str, original: str) -> str:
    # Written here rather than by autodoc, whose "alias of" line Sphinx's own Japanese catalog
    # turns into invalid reStructuredText (a role run into the next word).
    return (
        f"```{{py:class}} {target}\n:canonical: {original}\n\n"
        f"Another name for {{py:class}}`{original}`, kept because Keras 2.2.4 offered `{name}` too.\n```\n"
    )


def _entry(target: str, obj: Any) -> str:
    options = "\n   :members:\n   :show-inheritance:" if inspect.isclass(obj) else ""
    return f"```{{eval-rst}}\n.. {_directive(obj)}:: {target}{options}\n```\n"


def _title(module: ModuleType, heading: str) -> str:
    first = _summary(module)
    return f"# {heading}\n\n{first}\n" if first else f"# {heading}\n"


def write_pages(folder: Path) -> list[str]:
    """Writes the API pages into `folder`; returns the page names, index first."""
    import kutils

    folder.mkdir(parents=True, exist_ok=True)
    pages: dict[str, str] = {}
    documented: dict[int, str] = {}
    by_module: dict[str, list[tuple[str, Any]]] = {}
    for name in kutils.__all__:
        obj = getattr(kutils, name)
        if isinstance(obj, ModuleType):
            continue
        by_module.setdefault(obj.__module__, []).append((name, obj))
    for module_name in sorted(by_module):
        module = importlib.import_module(module_name)
        entries = []
        for name, obj in by_module[module_name]:
            if inspect.isclass(obj) and obj.__name__ != name:  # an alias (h5dict is H5Dict)
                entries.append(_alias_entry(f"kutils.{name}", name, f"kutils.{obj.__name__}"))
                continue
            documented[id(obj)] = f"kutils.{name}"
            entries.append(_entry(f"kutils.{name}", obj))
        short = module_name.removeprefix("kutils.")
        heading = f"`kutils.{short}`" if short != "errors" else "`kutils.errors`: the error vocabulary"
        pages[f"kutils.{short}"] = _title(module, heading) + "\n" + "\n".join(entries)
    for path in KERAS2_PATHS:
        module = importlib.import_module(f"kutils.{path}")
        rows, entries = [], []
        for name in module.__all__:
            obj = getattr(module, name)
            target = documented.get(id(obj))
            if target is None:
                target = documented[id(obj)] = f"kutils.{path}.{name}"
                entries.append(_entry(target, obj))
            rows.append(f"| {{py:obj}}`{name} <{target}>` | {_summary(obj)} |")
        table = "| name | what it does |\n|---|---|\n" + "\n".join(rows) + "\n"
        heading = f"`kutils.{path}` (Keras 2.2.4 `keras.utils.{path}`)"
        pages[f"kutils.{path}"] = _title(module, heading) + "\n" + table + "\n" + "\n".join(entries)
    capability = sorted(name for name in pages if name.removeprefix("kutils.") not in KERAS2_PATHS)
    keras2 = [f"kutils.{path}" for path in KERAS2_PATHS]
    index = (
        "# API reference\n\n"
        "Every public name of kutils, generated from the docstrings. Import them from `kutils` "
        "(`from kutils import to_categorical`) or from their Keras 2.2.4 module path "
        "(`from kutils.np_utils import to_categorical`).\n\n"
        "## By kutils module\n\n```{toctree}\n:maxdepth: 1\n\n" + "\n".join(capability) + "\n```\n\n"
        "## By Keras 2.2.4 module path\n\n```{toctree}\n:maxdepth: 1\n\n" + "\n".join(keras2) + "\n```\n"
    )
    pages["index"] = index
    for name, text in pages.items():
        target = folder / f"{name}.md"
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
    for stale in folder.glob("*.md"):
        if stale.stem not in pages:
            stale.unlink()
    return ["index", *capability, *keras2]
