"""The kutils error vocabulary: one public module, one base, the builtin bases Keras 2.2.4 callers catch."""

from __future__ import annotations

import ast
import builtins
import importlib
import pickle
import re
from pathlib import Path

import pytest

import kutils
import kutils.errors

PACKAGE = Path(kutils.__file__).parent
DOCS_PAGE = PACKAGE.parent / "docs" / "errors.md"

# Each kutils exception -> the builtin exceptions it must stay catchable as (what Keras 2.2.4 raised).
BUILTIN_BASES: dict[str, tuple[type[BaseException], ...]] = {
    "KutilsError": (Exception,),
    "CacheDirError": (PermissionError, OSError),
    "ConvArgumentError": (ValueError,),
    "DevicePlacementError": (ValueError,),
    "DownloadError": (OSError,),
    "GraphvizNotFoundError": (OSError,),
    "HDF5DatasetNotFoundError": (KeyError,),
    "HDF5FileBusyError": (OSError,),
    "HDF5FormatError": (OSError,),
    "HDF5NotADatasetError": (TypeError,),
    "HashMismatchError": (ValueError,),
    "ImproperConfigError": (ValueError,),
    "InvalidDataFormatError": (ValueError, AssertionError),
    "LayerTestError": (AssertionError,),
    "MigrateDependencyError": (ImportError,),
    "MissingKerasError": (ImportError,),
    "ModelNotBuiltError": (ValueError,),
    "NotAFunctionError": (TypeError, AttributeError),
    "OfflineError": (OSError,),
    "PydotNotFoundError": (ImportError,),
    "RemoteTraceback": (Exception,),
    "StoredModelError": (ValueError,),
    "SummaryPositionsError": (ValueError, IndexError),
    "UninterpretableIdentifierError": (ValueError, TypeError),
    "UnknownObjectError": (ValueError,),
    "UnsafeArchiveError": (ValueError,),
    "UnsupportedPlotFormatError": (ValueError,),
    "UnsupportedVersionError": (ImportError,),
    "WorkerDiedError": (RuntimeError,),
    "WorkerError": (RuntimeError,),
    "WorkerFailureError": (RuntimeError,),
}

# Where each exception was importable before kutils.errors existed; those imports keep working.
OLD_PATHS = {
    "kutils.download": [
        "CacheDirError",
        "DownloadError",
        "HashMismatchError",
        "OfflineError",
        "UnsafeArchiveError",
    ],
    "kutils.archives": ["UnsafeArchiveError"],
    "kutils._keras": ["MissingKerasError"],
    "kutils._introspect": ["ModelNotBuiltError"],
    "kutils.functions": ["NotAFunctionError"],
    "kutils.serialization": ["ImproperConfigError", "UnknownObjectError", "UninterpretableIdentifierError"],
    "kutils.layer_ops": ["InvalidDataFormatError"],
    "kutils.summary": ["ModelNotBuiltError", "SummaryPositionsError"],
    "kutils.plotting": [
        "GraphvizNotFoundError",
        "ModelNotBuiltError",
        "PydotNotFoundError",
        "UnsupportedPlotFormatError",
    ],
    "kutils.hdf5": [
        "HDF5DatasetNotFoundError",
        "HDF5FileBusyError",
        "HDF5FormatError",
        "HDF5NotADatasetError",
    ],
    "kutils._workers": ["RemoteTraceback", "WorkerDiedError"],
    "kutils._stored_model": ["StoredModelError"],
    "kutils.multi_gpu": ["DevicePlacementError"],
    "kutils.distribute": ["WorkerFailureError"],
}

# Exceptions that never leave the module that raises them, so they are no part of the vocabulary.
PRIVATE_CONTROL_FLOW = {"_Retry"}  # _transfer: one failed download attempt, caught by the retry loop


def test_the_vocabulary_is_exactly_the_specified_tree():
    assert sorted(kutils.errors.__all__) == sorted(BUILTIN_BASES)


@pytest.mark.parametrize("name", sorted(BUILTIN_BASES))
def test_each_error_derives_from_kutils_error_and_its_builtin_bases(name: str):
    error = getattr(kutils.errors, name)
    assert issubclass(error, kutils.errors.KutilsError)
    for base in BUILTIN_BASES[name]:
        assert issubclass(error, base), f"{name} must stay catchable as {base.__name__}"
    assert error.__module__ == "kutils.errors"
    assert getattr(kutils, name) is error, f"`from kutils import {name}` must give the same class"
    assert error.__doc__, f"{name} needs a docstring saying when it is raised"


# These import TensorFlow and Keras when imported (seconds): their cases are `slow`.
IMPORT_TENSORFLOW = {"kutils.distribute", "kutils.multi_gpu"}


@pytest.mark.parametrize(
    ("module", "names"),
    [
        pytest.param(module, names, marks=[pytest.mark.slow] if module in IMPORT_TENSORFLOW else [])
        for module, names in sorted(OLD_PATHS.items())
    ],
)
def test_old_import_locations_give_the_same_classes(module: str, names: list[str]):
    imported = importlib.import_module(module)
    for name in names:
        assert getattr(imported, name) is getattr(kutils.errors, name), f"{module}.{name}"


@pytest.mark.parametrize("name", sorted(BUILTIN_BASES))
def test_each_error_survives_pickling_as_worker_processes_send_it(name: str):
    error = getattr(kutils.errors, name)("what went wrong")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert "what went wrong" in str(copy)


def test_caught_by_the_common_base_and_by_the_keras_224_builtin(tmp_path: Path):
    from kutils import get_file

    missing = (tmp_path / "missing.bin").as_uri()
    with pytest.raises(kutils.errors.KutilsError, match="URL fetch failure"):
        get_file("x", missing, cache_dir=tmp_path / "cache", retries=0)
    with pytest.raises(OSError, match="URL fetch failure"):
        get_file("x", missing, cache_dir=tmp_path / "cache", retries=0)


def test_no_exception_class_is_defined_outside_kutils_errors():
    """A new exception class belongs in kutils/errors.py (found by reading every module's source)."""
    builtin_exceptions = {
        name
        for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    strays = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef) or node.name in PRIVATE_CONTROL_FLOW:
                continue
            bases = {base.id for base in node.bases if isinstance(base, ast.Name)}
            if bases & (builtin_exceptions | set(BUILTIN_BASES)):
                strays.append(f"{path.name}: {node.name}")
    assert strays == []


def test_docs_page_lists_every_error_with_its_bases():
    page = DOCS_PAGE.read_text(encoding="utf-8")
    for name, bases in BUILTIN_BASES.items():
        line = next((text for text in page.splitlines() if re.search(rf"`{name}`", text)), None)
        assert line is not None, f"docs/errors.md does not list {name}"
        for base in bases:
            if base is not Exception:
                assert base.__name__ in line, f"docs/errors.md: the {name} line must name {base.__name__}"
