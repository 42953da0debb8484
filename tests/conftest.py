"""Shared pytest set-up: quiet TensorFlow logs, CPU only; the `keras_line` fixture; the markers."""

import ast
import inspect
import os
import re
from types import ModuleType
from typing import Any

import pytest
from _keras_lines import import_line

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture(params=["keras", "tf_keras"])
def keras_line(request: pytest.FixtureRequest) -> ModuleType:
    """Each Keras line in turn (Keras 3, tf_keras), whatever TF_USE_LEGACY_KERAS says."""
    return import_line(request.param)


# --- markers that say what a test does (registered, with their meaning, in pyproject.toml) --------

# Calls that start or signal another process; a test that makes one (itself, or through a helper
# function or fixture of its module that does) is marked `processes`.
_PROCESS_CALLS = (
    "subprocess",
    "Popen",
    "multiprocessing",
    "use_multiprocessing=True",
    "os.kill",
    "python_child",
    "run_python",
)
# Fixtures that start the loopback HTTP server (tests/_http_server.py); their users are marked `network`.
_SERVER_FIXTURES = {"server", "tls_server"}


def _process_helpers(module: Any) -> set[str]:
    """Names of the module-level functions of a test module that start processes."""
    tree = ast.parse(inspect.getsource(module))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and not node.name.startswith("test_")
        and any(call in ast.unparse(node) for call in _PROCESS_CALLS)
    }


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Adds `processes` and `network` to the tests that start processes or use the loopback server."""
    helpers: dict[str, set[str]] = {}
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        module = item.module
        if module.__name__ not in helpers:
            helpers[module.__name__] = _process_helpers(module)
        source = inspect.getsource(item.function)
        names = set(item.fixturenames)
        if any(call in source for call in _PROCESS_CALLS) or any(
            re.search(rf"\b{re.escape(helper)}\b", source) or helper in names
            for helper in helpers[module.__name__]
        ):
            item.add_marker(pytest.mark.processes)
        if names & _SERVER_FIXTURES or "TestServer(" in source:
            item.add_marker(pytest.mark.network)


# A test that takes this long without the `slow` marker is named at the end of the run.
_SLOW_SECONDS = 5.0
_unmarked_slow: list[tuple[str, float]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.duration > _SLOW_SECONDS and "slow" not in report.keywords:
        _unmarked_slow.append((report.nodeid, report.duration))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _unmarked_slow:
        terminalreporter.section("tests over 5 s without the `slow` marker")
        for nodeid, seconds in sorted(_unmarked_slow, key=lambda entry: -entry[1]):
            terminalreporter.write_line(f"{seconds:7.1f} s  {nodeid}")
