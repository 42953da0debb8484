"""Tests for the `kutils` command line: `python -m kutils demo`, the console script, exit status."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kutils import cli, demo

# The console script pip installed next to this interpreter (kutils is installed in the test venv).
CONSOLE_SCRIPT = Path(sys.executable).parent / "kutils"
STEP_NAMES = [name for name, _ in demo.list_steps()]


def run_command(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Runs a command in a fresh process (quiet TensorFlow, CPU only) and returns it finished."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=timeout, check=False)


def headers(output: str) -> list[str]:
    """The step names of the `== name: summary` lines the tour printed, in order."""
    return re.findall(r"^== (\w+): ", output, flags=re.MULTILINE)


def test_console_script_lists_the_tour_steps():
    """`kutils demo --list` prints one line per step, in tour order, with its summary, and exits 0."""
    result = run_command(str(CONSOLE_SCRIPT), "demo", "--list")
    assert result.returncode == 0, result.stderr
    listed = [line.split(maxsplit=1) for line in result.stdout.splitlines()]
    assert listed == [[name, summary] for name, summary in demo.list_steps()]
    assert {"array_ops", "progbar", "custom_objects"} <= {name for name, _ in listed}


def test_console_script_runs_only_the_chosen_steps_in_tour_order():
    """`kutils demo --only progbar --only array_ops` runs those two steps (tour order), exit status 0."""
    result = run_command(str(CONSOLE_SCRIPT), "demo", "--only", "progbar", "--only", "array_ops")
    assert result.returncode == 0, result.stdout + result.stderr
    assert headers(result.stdout) == ["array_ops", "progbar"]
    assert "to_categorical([0, 2, 1, 2]) -> shape (4, 3), dtype float32" in result.stdout
    assert "ValueError: to_categorical got 1 negative label(s): [-1]" in result.stdout
    assert "8/8 [====================]" in result.stdout
    assert "\r" not in result.stdout  # a pipe is not a terminal: no redraw characters
    assert result.stdout.rstrip().endswith("kutils demo: all steps ran")


@pytest.mark.slow  # imports TensorFlow and runs every step (the multi_gpu step in another interpreter)
def test_python_m_kutils_demo_runs_every_step():
    """The main job, `python -m kutils demo`, runs every step of the tour and exits 0."""
    result = run_command(sys.executable, "-m", "kutils", "demo")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert headers(result.stdout) == STEP_NAMES
    assert "Traceback" not in result.stdout
    assert "saved to 'my model.keras' and loaded it back by name: same predictions: True" in result.stdout
    assert "Dense(2, kernel_regularizer='MyObject', activation='doubled_relu') -> MyObject, doubled_relu" in (
        result.stdout
    )
    assert "after the scope: get_custom_objects() = {}" in result.stdout
    assert "verbose=2 writes one line at the end: ' - 0s - loss: 0.2500'" in result.stdout
    assert result.stdout.rstrip().endswith("kutils demo: all steps ran")


def test_unknown_step_is_a_usage_error_naming_it():
    """`--only bogus` exits with status 2, naming the bad step and the known ones, without a traceback."""
    result = run_command(sys.executable, "-m", "kutils", "demo", "--only", "bogus")
    assert result.returncode == 2
    assert "invalid choice: 'bogus'" in result.stderr
    assert all(repr(name) in result.stderr for name in STEP_NAMES)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_missing_command_is_a_usage_error():
    """`kutils` without a command exits with status 2 and says a command is required."""
    result = run_command(str(CONSOLE_SCRIPT))
    assert result.returncode == 2
    assert "the following arguments are required: COMMAND" in result.stderr


def test_version_names_the_installed_version():
    """`kutils --version` prints the package version and exits 0."""
    from kutils import __version__

    result = run_command(str(CONSOLE_SCRIPT), "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"kutils {__version__}"


def test_a_failing_step_gives_exit_status_1_and_the_other_steps_still_run(monkeypatch, capsys):
    """A step that raises prints its traceback; the tour goes on and main() returns 1."""

    def broken_step(workdir: Path, say: demo.Say) -> None:
        say(f"working in {workdir.name}")
        raise RuntimeError("this step is broken on purpose")

    real_steps = [step for step in demo._STEPS if step[0] in ("array_ops", "progbar")]
    monkeypatch.setattr(demo, "_STEPS", [real_steps[0], ("broken", "fails", broken_step), real_steps[1]])
    status = cli.main(["demo"])
    output = capsys.readouterr().out
    assert status == 1
    assert headers(output) == ["array_ops", "broken", "progbar"]
    assert "RuntimeError: this step is broken on purpose" in output
    assert output.rstrip().endswith("kutils demo: 1 step(s) failed")


def test_run_tour_rejects_unknown_steps_naming_them():
    """run_tour(only=[...]) with an unknown name raises ValueError naming it and the known steps."""
    with pytest.raises(ValueError, match=r"unknown tour steps \['nope'\]; known steps: \['array_ops'"):
        demo.run_tour(only=["array_ops", "nope"], out=io.StringIO())
