"""Sphinx configuration of the kutils documentation site (English and Japanese).

Build both languages, check the translations and make the pictures with one command:
`python docs/build.py` (or `tox -e docs`). The pages are the Markdown files in this folder
(read by MyST, https://myst-parser.readthedocs.io/); the API reference under `api/` is generated
from the package's own lists of names (`docs/_api_pages.py`); translations live in
`locale/ja/LC_MESSAGES/` as gettext catalogs (https://www.sphinx-doc.org/en/master/usage/advanced/intl.html).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _api_pages  # noqa: E402 - the folder above must be on the path first
import _docstrings  # noqa: E402

import kutils  # noqa: E402

project = "kutils"
author = "The kutils authors"
copyright = "2026, the kutils authors"
release = version = kutils.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx_copybutton",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "locale", "README.md", "**/.pytest_cache"]
templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["kutils.css"]

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
suppress_warnings = ["myst.header"]

# The API reference: Google/Keras-style docstrings (Args/Returns/Raises/Example), signatures with types.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_typehints_format = "short"
autodoc_type_aliases = {"ArrayLike": "numpy.typing.ArrayLike", "DTypeLike": "numpy.typing.DTypeLike"}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# Translations: one catalog per page, Japanese in locale/ja.
locale_dirs = ["locale/"]
gettext_compact = False
gettext_uuid = False
gettext_location = False

html_theme = "furo"
html_title = f"kutils {release}"
html_sidebars = {
    "**": [
        "sidebar/brand.html",
        "sidebar/language.html",
        "sidebar/search.html",
        "sidebar/scroll-start.html",
        "sidebar/navigation.html",
        "sidebar/scroll-end.html",
    ]
}
html_context = {"languages": [("en", "English"), ("ja", "日本語")]}

# Internal links only: the build machines reach no web site.
linkcheck_ignore = [r"https?://.*"]


def setup(app: object) -> None:
    _api_pages.write_pages(HERE / "api")
    # Before napoleon (priority 500), so its section parser sees ``literals``, not Markdown backticks.
    app.connect("autodoc-process-docstring", _docstrings.markdown_to_rst, priority=400)  # type: ignore[attr-defined]
