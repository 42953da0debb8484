"""Imports a Keras line (or one of its modules) for the tests that compare or exercise both lines."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest


def import_line(module: str) -> ModuleType:
    """Imports `module`; a missing line fails the test, as both lines come with the `test` extra.

    tf_keras and Keras 3 are both installed by `pip install -e '.[test]'`, on
    every stack the suite runs on, so a test that needs one never skips: a
    stack without it is set up wrongly.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        reason = f"{module} cannot be imported ({error})"
        pytest.fail(f"{reason}; install the test extra: pip install -e '.[test]'")
