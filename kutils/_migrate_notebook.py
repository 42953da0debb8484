"""Jupyter notebooks for `kutils migrate`: code cells in, code cells out.

The code cells are joined into one module (so an `import keras` in cell 1
counts for a use in cell 5), with IPython magics masked as comments, then
split back. Only the changed cells' `source` changes; the file keeps its JSON
layout when it is one of the layouts nbformat and editors write.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

_CELL_MARK = "# kutils-migrate: cell {}"
_MAGIC_MARK = "# kutils-migrate: magic {}"
_CELL_RE = re.compile(r"^# kutils-migrate: cell (\d+)\n", re.MULTILINE)
_MAGIC_RE = re.compile(r"^([ \t]*)# kutils-migrate: magic (\d+)$", re.MULTILINE)


def _cell_text(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _dump_like(notebook: dict[str, Any], original: str) -> str:
    """Serialises `notebook` in the layout `original` was written in (nbformat's if unknown)."""
    layouts = [(1, True), (1, False), (2, False), (2, True), (4, False), (4, True)]
    decoded = json.loads(original)
    for indent, sort_keys in layouts:
        text = json.dumps(decoded, indent=indent, sort_keys=sort_keys, ensure_ascii=False)
        for end in ("\n", ""):
            if text + end == original:
                return json.dumps(notebook, indent=indent, sort_keys=sort_keys, ensure_ascii=False) + end
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def migrate_notebook(
    text: str, migrate_code: Callable[[str], tuple[str, list[Any]]]
) -> tuple[str, list[tuple[int, int, Any]]]:
    """Migrates a notebook's Python code cells.

    Args:
        text: The `.ipynb` file's text.
        migrate_code: Migrates one module's code: returns `(new_code, findings)`,
            each finding with a `line` attribute in the given code.

    Returns:
        `(new_text, findings)`, each finding as `(cell_index, line_in_cell,
        finding)` (the cell index counts code cells only). `new_text` is
        `text` itself when nothing changed.

    Raises:
        ValueError: When the file is not a notebook (not JSON, no `cells`).
        libcst.ParserSyntaxError: When the code cells do not parse.
    """
    notebook = json.loads(text)
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise ValueError("not a Jupyter notebook: no 'cells' list at the top level")
    code_cells = [cell for cell in notebook["cells"] if cell.get("cell_type") == "code"]
    magics: list[str] = []

    def mask(match: re.Match[str]) -> str:
        magics.append(match.group(0))
        indent = match.group(0)[: len(match.group(0)) - len(match.group(0).lstrip())]
        return indent + _MAGIC_MARK.format(len(magics) - 1)

    pieces, starts = [], []
    line = 1
    for index, cell in enumerate(code_cells):
        source = _cell_text(cell)
        if source.lstrip().startswith("%%"):  # a cell magic: not Python
            continue
        body = re.sub(r"^[ \t]*[%!].*$", mask, source, flags=re.MULTILINE)
        body = body if body.endswith("\n") or not body else body + "\n"
        piece = _CELL_MARK.format(index) + "\n" + body
        starts.append((line + 1, index))
        line += piece.count("\n")
        pieces.append(piece)
    joined = "".join(pieces)
    new_joined, findings = migrate_code(joined)

    located = []
    for finding in findings:
        first_line, cell_index = max((s for s in starts if s[0] <= finding.line), default=starts[0])
        located.append((cell_index, finding.line - first_line + 1, finding))
    if new_joined == joined:
        return text, located

    restored = _MAGIC_RE.sub(lambda m: magics[int(m.group(2))], new_joined)
    chunks = _CELL_RE.split(restored)
    # chunks: [before-first-mark, index, code, index, code, ...]; anything
    # the run put before the first mark belongs to the first cell.
    chunks[2] = chunks[0] + chunks[2]
    for index_text, code in zip(chunks[1::2], chunks[2::2], strict=True):
        cell = code_cells[int(index_text)]
        old = _cell_text(cell)
        if not old.endswith("\n") and code.endswith("\n"):
            code = code[:-1]
        if code == old:
            continue
        cell["source"] = code.splitlines(keepends=True) if isinstance(cell.get("source"), list) else code
    return _dump_like(notebook, text), located
