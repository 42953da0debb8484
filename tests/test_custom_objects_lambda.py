"""Lambda layers see the scope's names (Keras 2.2.4 made them globals of the Lambda's code).

The Keras-OpenFace pattern, `with CustomObjectScope({'tf': tf}): load_model('nn4.small2.v1.h5')`,
on each Keras line and file format: one fresh process saves models whose Lambda code uses `tf` and
`double_it` (globals of that process's script), another fresh process, where those names are not
globals, loads them (`tests/_lambda_save.py`, `tests/_lambda_load.py`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _keras_lines import import_line

TESTS = Path(__file__).parent


def run_script(script: str, *args: str) -> str:
    """Runs a helper script of this folder in a fresh Python; returns its last stdout line ("" if none)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, str(TESTS / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else ""


@pytest.fixture(scope="module", params=["keras", "tf_keras"])
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Per Keras line: what loading each saved file gave in a fresh process, by file and way of loading."""
    line = import_line(request.param)
    folder = tmp_path_factory.mktemp(f"lambdas-{line.__name__}")
    run_script("_lambda_save.py", line.__name__, str(folder))
    results = json.loads(run_script("_lambda_load.py", line.__name__, str(folder)))
    results["expected"] = {name: np.load(folder / f"{name}.npy").tolist() for name in ("lambdas", "plain")}
    results["line"] = line.__name__
    return results


@pytest.mark.slow  # two fresh interpreters import TensorFlow
def test_lambda_code_sees_the_scope_names_in_h5_and_keras_files(loaded):
    """Inside a kutils scope (or with `custom_objects=` while kutils is active) the Lambdas load and run.

    Before, on Keras 3: "We could not automatically infer the shape of the Lambda's output" (the
    Lambda's code could not see `tf`); on tf_keras: "name 'double_it' is not defined". Without a
    scope they still fail that way, as plain Keras does.
    """
    expected = loaded["expected"]
    for suffix in (".h5", ".keras"):
        ways = loaded[f"lambdas{suffix}"]
        for way in ("kutils scope", "custom_objects"):
            assert not isinstance(ways[way], str), f"{loaded['line']} {suffix} {way}: {ways[way]}"
            np.testing.assert_allclose(ways[way], expected["lambdas"], rtol=1e-5)
        assert isinstance(ways["no scope"], str)
        if loaded["line"] == "keras":
            assert "could not automatically infer the shape" in ways["no scope"]
        else:
            assert "name 'double_it' is not defined" in ways["no scope"]


@pytest.mark.slow  # two fresh interpreters import TensorFlow
def test_lambdas_that_need_no_outside_name_load_the_same_with_or_without_a_scope(loaded):
    """A file whose Lambda uses only its argument gives the same outputs however it is loaded."""
    for suffix in (".h5", ".keras"):
        for way, outputs in loaded[f"plain{suffix}"].items():
            assert not isinstance(outputs, str), f"{suffix} {way}: {outputs}"
            np.testing.assert_allclose(outputs, loaded["expected"]["plain"], rtol=1e-6)
