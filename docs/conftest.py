"""Runs the code examples of the documentation pages (docs/*.md) as tests, with Sybil.

Every ```python block is executed, in page order, in one namespace per page; blocks with `>>>`
prompts are doctests whose shown output must match. A page prepares what its examples use in an
invisible block (`<!-- invisible-code-block: python ... -->`), and a block that only shows a
signature or needs what a test machine lacks (a GPU, the internet) is marked before it with
`<!-- skip: next -->` and says why in the text. See https://sybil.readthedocs.io/.

Each page runs in a fresh temporary folder (its working directory), with `$KERAS_HOME` there too,
so examples may write files freely; the global custom-object table is given back as it was.
"""

from __future__ import annotations

import doctest
import os
import tempfile
from typing import Any

from sybil import Sybil
from sybil.parsers.markdown import ClearNamespaceParser, PythonCodeBlockParser, SkipParser

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def _setup(namespace: dict[str, Any]) -> None:
    from kutils import get_custom_objects

    namespace["_docs_custom_objects"] = dict(get_custom_objects())
    folder = tempfile.TemporaryDirectory(prefix="kutils-docs-")
    namespace["_docs_folder"] = folder
    namespace["_docs_previous"] = (os.getcwd(), os.environ.get("KERAS_HOME"))
    os.chdir(folder.name)
    os.environ["KERAS_HOME"] = os.path.join(folder.name, "keras_home")


def _teardown(namespace: dict[str, Any]) -> None:
    cwd, keras_home = namespace["_docs_previous"]
    os.chdir(cwd)
    if keras_home is None:
        os.environ.pop("KERAS_HOME", None)
    else:
        os.environ["KERAS_HOME"] = keras_home
    from kutils import get_custom_objects

    table = get_custom_objects()  # a page may register names "at import time": give the table back
    table.clear()
    table.update(namespace["_docs_custom_objects"])
    namespace["_docs_folder"].cleanup()


pytest_collect_file = Sybil(
    parsers=[
        PythonCodeBlockParser(doctest_optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE),
        SkipParser(),
        ClearNamespaceParser(),
    ],
    patterns=["*.md"],
    excludes=["api/*", "_build/*", "locale/*"],
    setup=_setup,
    teardown=_teardown,
).pytest()
