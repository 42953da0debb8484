"""Modules a newcomer can hold in their head: none over ~500 lines without saying why; all on the map."""

from __future__ import annotations

import re
from pathlib import Path

import kutils

DESIGN = Path(kutils.__file__).resolve().parent.parent / "docs" / "design.md"

PACKAGE = Path(kutils.__file__).parent
LIMIT = 500


def test_a_module_over_500_lines_states_why_in_its_docstring():
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > LIMIT:
            docstring = text.split('"""')[1] if text.startswith('"""') else ""
            if "500 lines" not in docstring:
                unexplained.append(f"{path.relative_to(PACKAGE)}: {text.count(chr(10))} lines")
    assert unexplained == []


def test_every_module_is_on_the_design_map():
    """docs/design.md names every module (a family like `_migrate_*` may be named by its prefix)."""
    page = DESIGN.read_text(encoding="utf-8")
    families = {name.rstrip("*") for name in re.findall(r"`(_?[a-z0-9_]+_)\*`", page)}
    missing = [
        path.stem
        for path in sorted(PACKAGE.glob("*.py"))
        if f"`{path.stem}`" not in page and not any(path.stem.startswith(prefix) for prefix in families)
    ]
    assert missing == []
