"""docs/migrate.md tells the truth: its before/after examples are what `kutils migrate` produces,
and its tables list every rule and every name the command knows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kutils._migrate_rules import KERAS3_UTILS_KEPT, LAYERS_REMOVED, LAYERS_RENAMED, RULES
from kutils.migrate import migrate_code

PAGE = (Path(__file__).parent.parent / "docs" / "migrate.md").read_text()
_SKIPPED_BLOCK = r"<!-- skip: next -->\n```python\n(.*?)```\n"
EXAMPLES = re.findall(r"<!-- example([^>]*)-->\n" + _SKIPPED_BLOCK + "becomes\n" + _SKIPPED_BLOCK, PAGE, re.S)


def test_the_page_has_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize(("flags", "before", "after"), EXAMPLES)
def test_each_example_is_what_the_command_produces(flags, before, after):
    out, _ = migrate_code(before, fix_keras3="--fix-keras3" in flags, only_removed="--only-removed" in flags)
    assert out == after


def test_every_rule_and_name_is_in_the_tables():
    rows = {line.split("|")[1].strip() for line in PAGE.splitlines() if line.startswith("| `")}
    for rule in RULES:
        assert f"`{rule}`" in rows, rule
    for name in [*KERAS3_UTILS_KEPT, *LAYERS_RENAMED, *LAYERS_REMOVED]:
        assert f"`{name}" in PAGE, name
