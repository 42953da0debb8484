"""Shared helpers for the custom object, serialization and function tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from kutils import custom_objects


@pytest.fixture(autouse=True)
def clean_custom_objects() -> Iterator[None]:
    """Each test starts and ends with no open scope and the global dict as it was."""
    saved = dict(custom_objects.get_custom_objects())
    assert custom_objects._open_scopes == []
    yield
    leaked = list(custom_objects._open_scopes)
    custom_objects._open_scopes.clear()
    if custom_objects._keras_hook_handle is not None:
        custom_objects._keras_hook_handle.remove()
        custom_objects._keras_hook_handle = None
    custom_objects.get_custom_objects().clear()
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
