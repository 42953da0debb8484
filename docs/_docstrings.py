"""Docstrings to reStructuredText for autodoc: kutils writes them in Markdown habits.

The docstrings use single backticks for code (`to_categorical`) and fenced code
blocks (```python ... ```), as Markdown does; reStructuredText reads single
backticks as "interpreted text" and does not know fences. This hook (for
`autodoc-process-docstring`, https://www.sphinx-doc.org/en/master/usage/extensions/autodoc.html)
turns fences into `code-block` directives and single backticks into inline
literals, leaving doctest blocks (`>>>`) and double backticks alone.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["markdown_to_rst"]

_SINGLE_BACKTICKS = re.compile(r"(?<![`\w])`([^`\n]+)`(?!`)(\w?)")
_FENCE = re.compile(r"^(\s*)```\s*([\w+-]*)\s*$")


def _literal(match: re.Match[str]) -> str:
    # An inline literal may not start or end with a space, and must end before a word character
    # with an escaped space (`OSError`s becomes ``OSError``\ s).
    suffix = f"\\ {match.group(2)}" if match.group(2) else ""
    return f"``{match.group(1).strip()}``{suffix}"


def markdown_to_rst(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Rewrites `lines` (one docstring) in place; runs before napoleon reads the sections."""
    out: list[str] = []
    fence_indent: str | None = None
    for line in lines:
        fence = _FENCE.match(line)
        if fence and fence_indent is None:
            fence_indent = fence.group(1)
            out += [f"{fence_indent}.. code-block:: {fence.group(2) or 'text'}", ""]
            continue
        if fence and fence_indent is not None:
            fence_indent = None
            out.append("")
            continue
        if fence_indent is not None:
            out.append(f"{fence_indent}   {line[len(fence_indent) :]}" if line.strip() else "")
            continue
        out.append(
            line if line.lstrip().startswith((">>>", "...")) else _SINGLE_BACKTICKS.sub(_literal, line)
        )
    lines[:] = out
