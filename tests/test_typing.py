"""Types that tools see: the static name lists match the runtime, and type checkers see real types.

Every re-exporting module (`kutils`, `kutils.utils`, the Keras 2 paths) lists its names once,
as imports under `if TYPE_CHECKING:`; `kutils._lazy` reads that block at run time. These tests
check the block, `__all__` and the runtime agree, and that mypy and pyright give every public
name, reached by every path, the type of the object that defines it (not `Any`).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import kutils
from kutils._lazy import type_checking_imports

REPO = Path(kutils.__file__).resolve().parent.parent
TYPING_TESTS = REPO / "tests" / "typing"

KERAS2_PATHS = [
    "conv_utils",
    "data_utils",
    "generic_utils",
    "io_utils",
    "layer_utils",
    "multi_gpu_utils",
    "np_utils",
    "test_utils",
    "vis_utils",
]
REEXPORTING_MODULES = ["kutils", "kutils.utils", *(f"kutils.{name}" for name in KERAS2_PATHS)]


def _names(module_name: str) -> dict[str, tuple[str, str | None]]:
    importlib.import_module(module_name)
    return type_checking_imports(module_name)


def _public_paths() -> list[tuple[str, str]]:
    """(how user code reaches a name, where it is defined) for every public name and path."""
    paths = []
    for module_name in REEXPORTING_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            defined_in = getattr(module, name).__module__
            paths.append((f"{module_name}.{name}", f"{defined_in}.{name}"))
    for name in KERAS2_PATHS:
        for attribute in importlib.import_module(f"kutils.{name}").__all__:
            defined_in = getattr(kutils.utils, name).__dict__.get(attribute) or getattr(
                getattr(kutils.utils, name), attribute
            )
            paths.append((f"kutils.utils.{name}.{attribute}", f"{defined_in.__module__}.{attribute}"))
    return paths


@pytest.mark.parametrize("module_name", REEXPORTING_MODULES)
def test_all_is_static_and_lists_the_type_checking_block(module_name: str):
    """`__all__` lists exactly the names of the `if TYPE_CHECKING:` block; `dir()` shows them all."""
    module = importlib.import_module(module_name)
    names = _names(module_name)
    exported = {name for name, (_, attribute) in names.items() if attribute is not None}
    assert module.__all__ == sorted(module.__all__)
    assert set(module.__all__) == exported
    assert set(names) <= set(dir(module))


# Resolving every name imports TensorFlow (for distributed_fit, multi_gpu_model): seconds.
@pytest.mark.slow
@pytest.mark.parametrize("module_name", REEXPORTING_MODULES)
def test_the_type_checking_block_is_the_runtime_table(module_name: str):
    """Each name of the block resolves at run time to the very object the block imports."""
    module = importlib.import_module(module_name)
    for name, (source, attribute) in _names(module_name).items():
        defining = importlib.import_module(source, module.__package__)
        expected = defining if attribute is None else getattr(defining, attribute)
        assert getattr(module, name) is expected, f"{module_name}.{name}"


def test_static_all_is_a_literal_list_in_every_public_module():
    """Each public module's `__all__` is written out (readers and tools see it without running code)."""
    computed = []
    for path in sorted((REPO / "kutils").rglob("*.py")):
        if path.name.startswith("_") and path.name != "__init__.py":
            continue
        source = path.read_text(encoding="utf-8")
        if "__all__" not in source:
            computed.append(f"{path.relative_to(REPO)}: no __all__")
        for match in re.finditer(r"^ *__all__ = (.*)$", source, re.M):
            if not match.group(1).startswith("["):
                computed.append(f"{path.relative_to(REPO)}: __all__ = {match.group(1)}")
    # kutils.utils offers the names of kutils itself: its list is kutils.__all__, written once there.
    assert computed == [
        'kutils/utils/__init__.py: __all__ = sys.modules["kutils"].__all__  '
        "# the names of kutils, listed once in kutils/__init__.py"
    ]


def _checker_environment() -> dict[str, str]:
    """The environment for a checker run: kutils found from this checkout, however it is installed."""
    return {**os.environ, "MYPYPATH": str(REPO)}


def _checker(module: str) -> list[str]:
    if module == "mypy":
        if importlib.util.find_spec("mypy") is None:
            pytest.fail("mypy comes with the `types` extra: pip install -e '.[types]'")
        return [sys.executable, "-m", "mypy", "--strict", "--no-incremental"]
    executable = shutil.which("pyright", path=str(Path(sys.executable).parent)) or shutil.which("pyright")
    if executable is None:
        pytest.fail("pyright comes with the `types` extra: pip install -e '.[types]'")
    return [executable, "--pythonpath", sys.executable]


def _run_checker(checker: str, *paths: str) -> subprocess.CompletedProcess[str]:
    """Runs `checker` ('mypy' or 'pyright') on `paths` from the repository root."""
    return subprocess.run(
        [*_checker(checker), *paths],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=REPO,
        env=_checker_environment(),
    )


def _revealed_types(checker: str, expressions: list[str], folder: Path) -> dict[str, str]:
    probe = folder / "reveal_public_names.py"
    lines = ["import kutils", "import kutils.utils"]
    lines += [f"import {module}" for module in sorted({e.rsplit(".", 1)[0] for e in expressions})]
    lines += [f"reveal_type({expression})" for expression in expressions]
    probe.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _run_checker(checker, str(probe))
    if checker == "mypy":
        found = re.findall(r":(\d+): note: Revealed type is \"(.*)\"$", result.stdout, re.M)
        types = {int(line): text for line, text in found}
    else:
        found = re.findall(r":(\d+):\d+ - information: Type of \".*?\" is \"(.*)\"$", result.stdout, re.M)
        types = {int(line): text for line, text in found}
    first_reveal = len(lines) - len(expressions) + 1
    assert len(types) == len(expressions), result.stdout[-4000:] + result.stderr[-2000:]
    return {expression: types[first_reveal + index] for index, expression in enumerate(expressions)}


@pytest.mark.slow
@pytest.mark.parametrize("checker", ["mypy", "pyright"])
def test_every_public_name_has_its_real_type_by_every_path(checker: str, tmp_path: Path):
    """`reveal_type(kutils.X)`, `kutils.np_utils.X`, `kutils.utils.np_utils.X` = the defining module's X."""
    paths = _public_paths()
    expressions = sorted({expression for pair in paths for expression in pair})
    revealed = _revealed_types(checker, expressions, tmp_path)
    wrong = {
        public: (revealed[public], revealed[defined])
        for public, defined in paths
        if revealed[public] != revealed[defined] or revealed[public] == "Any"
    }
    assert wrong == {}


@pytest.mark.slow
@pytest.mark.parametrize("checker", ["mypy", "pyright"])
def test_typing_spec_and_the_package_pass_the_checker(checker: str):
    """tests/typing (assert_type of public names) and kutils itself pass `mypy --strict` and pyright."""
    result = _run_checker(checker, "kutils", str(TYPING_TESTS.relative_to(REPO)))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
