"""Shared helpers for the custom object, serialization and function tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from kutils import _keras_hook, custom_objects


@pytest.fixture(autouse=True)
def clean_custom_objects() -> Iterator[None]:
    """Each test starts and ends with no open scope and the global dict as it was."""
    saved = dict(custom_objects.get_custom_objects())
    assert custom_objects._open_scopes == []
    yield
    leaked = list(custom_objects._open_scopes)
    custom_objects._open_scopes.clear()
    custom_objects.get_custom_objects().clear()  # with no scope open, this takes the Keras hook away
    assert custom_objects._keras_hook_handle is None
    custom_objects.get_custom_objects().update(saved)
    assert leaked == [], f"a test left scopes open: {leaked}"


def run_python(code: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a fresh Python (quiet TensorFlow, CPU only) and returns the finished process."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"child failed:\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def keras_attributes(line: ModuleType) -> list[object]:
    """The objects that the kutils adapter of `line` replaces, as they are now (compare with `is`)."""
    adapter = next(module for module in _keras_hook.adapters() if line.__name__ == module.LINE)
    found = [_keras_hook.find_target(item) for item in adapter.replacements({})]
    return [vars(target[0])[target[1]] for target in found if target is not None]


def assert_line_untouched(line: ModuleType, before: list[object]) -> None:
    """The attributes kutils replaces are the very objects they were in `before`."""
    now = keras_attributes(line)
    assert len(now) == len(before)
    assert all(a is b for a, b in zip(now, before, strict=True)), "kutils left a Keras table replaced"
