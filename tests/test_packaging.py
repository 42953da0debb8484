"""The install commands the README and the error messages give work with every pip."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name  # pytest depends on packaging

REPO = Path(__file__).resolve().parents[1]


def _pyproject_extras() -> set[str]:
    """The extras' names as pyproject.toml declares them (tomllib is Python 3.11+; kutils runs on 3.10)."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[project.optional-dependencies]\n", 1)[1].split("\n[", 1)[0]
    return set(re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*=", section, re.M))


def test_extras_are_named_in_their_normalized_form():
    """pip before 23.3 matches `kutils[name]` only against the normalized name in the metadata.

    Build back-ends write extras normalized (https://peps.python.org/pep-0685/):
    an extra declared as `tf_keras` is published as `tf-keras`, and
    `pip install "kutils[tf_keras]"` on such a pip installed nothing more, with
    only a warning.
    """
    declared = _pyproject_extras()
    assert declared == {canonicalize_name(name) for name in declared}
    published = set(metadata.metadata("kutils").get_all("Provides-Extra") or [])
    assert declared == published


def test_every_extra_the_docs_and_messages_name_exists():
    texts = [REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "kutils").glob("*.py")]
    named = {
        extra.strip()
        for path in texts
        for group in re.findall(r"kutils\[([^\]]+)\]", path.read_text(encoding="utf-8"))
        for extra in group.split(",")
    }
    assert named, "the README names the extras to install"
    assert named <= _pyproject_extras()
