"""Tests for kutils.progbar.Progbar: Keras 2.2.4 text, terminal and log output."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import types

import numpy as np
import pytest

import kutils.progbar as progbar_module
from kutils.progbar import LOG_INTERVAL, Progbar

# A script that drives a bar to completion on the default stdout.
DRIVE_BAR = (
    "from kutils.progbar import Progbar\n"
    "bar = Progbar(4, interval=0)\n"
    "for step in range(1, 5):\n"
    "    bar.update(step, [('loss', 0.5)])\n"
)


class Clock:
    """A settable replacement for the `time` module as seen by kutils.progbar."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


class Terminal(io.StringIO):
    """An in-memory text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progbar_module, "time", fake)
    return fake


def test_terminal_output_is_keras_224_text(clock):
    """On a terminal each redraw backspaces over the last one and the final line ends with a newline."""
    screen = Terminal()
    bar = Progbar(10, width=10, file=screen)
    clock.now += 1
    bar.update(2, [("loss", 0.5)])
    clock.now += 2
    bar.update(10, [("loss", 1.0)])
    first = " 2/10 [=>........] - ETA: 4s - loss: 0.5000"
    last = "10/10 [==========] - 3s 300ms/step - loss: 0.9000"
    assert screen.getvalue() == "\r" + first + "\b" * len(first) + "\r" + last + "\n"


def test_terminal_output_pads_shorter_line(clock):
    """A redraw shorter than the previous one is padded with spaces to wipe it."""
    screen = Terminal()
    bar = Progbar(100, width=4, file=screen)
    clock.now += 1
    bar.update(1, [("loss", 123.0)])
    clock.now += 1
    bar.update(2, [("loss", 1.0)])
    first = "  1/100 [....] - ETA: 1:39 - loss: 123.0000"
    second = "  2/100 [....] - ETA: 1:38 - loss: 62.0000"
    padding = " " * (len(first) - len(second))
    assert screen.getvalue() == "\r" + first + "\b" * len(first) + "\r" + second + padding


def test_updates_within_interval_are_skipped(clock):
    """Redraws closer together than `interval` are skipped, except the final one."""
    screen = Terminal()
    bar = Progbar(3, interval=1.0, file=screen)
    clock.now += 2
    bar.update(1)
    clock.now += 0.5
    bar.update(2)
    clock.now += 0.1
    bar.update(3)
    text = screen.getvalue()
    assert text.count("\r") == 2
    assert "2/3" not in text
    assert text.endswith("3/3 [" + "=" * 30 + "] - 3s 867ms/step\n")


def test_steady_updates_redraw_once_per_interval(clock):
    """Frequent updates still redraw every `interval` seconds (skipped updates do not reset the timer)."""
    screen = Terminal()
    bar = Progbar(10, interval=1.0, file=screen)
    for step in range(1, 10):
        clock.now += 0.5
        bar.update(step)
    redrawn = [step for step in range(1, 10) if f"\r{step:2d}/10 [" in screen.getvalue()]
    assert redrawn == [1, 3, 5, 7, 9]


def test_log_output_has_no_control_characters(clock):
    """Off a terminal, plain lines are written at most every LOG_INTERVAL seconds, plus the final one."""
    log = io.StringIO()
    bar = Progbar(100, width=10, file=log)
    for step in range(1, 101):
        clock.now += LOG_INTERVAL / 20
        bar.update(step, [("acc", 0.25)])
    lines = log.getvalue().split("\n")
    assert "\r" not in log.getvalue()
    assert "\b" not in log.getvalue()
    assert lines[-1] == ""
    assert lines[0].startswith("  1/100 [")
    assert lines[1].startswith(" 21/100 [=>........]")
    assert lines[-2] == "100/100 [==========] - 50s 500ms/step - acc: 0.2500"
    assert len(lines) == 7  # steps 1, 21, 41, 61, 81, 100, and the empty rest after the last newline


def test_stdout_pipe_gets_plain_lines():
    """A bar on a piped standard output writes plain lines without backspaces or carriage returns."""
    result = subprocess.run(
        [sys.executable, "-c", DRIVE_BAR], capture_output=True, text=True, timeout=120, check=True
    )
    assert "\r" not in result.stdout
    assert "\b" not in result.stdout
    assert result.stdout.splitlines()[-1].startswith("4/4 [" + "=" * 30 + "] - 0s")


def test_stdout_terminal_gets_redrawn_bar():
    """A bar on a real pseudo-terminal redraws in place with carriage returns, like Keras 2.2.4."""
    parent, child = pty.openpty()
    try:
        process = subprocess.run([sys.executable, "-c", DRIVE_BAR], stdout=child, timeout=120, check=True)
        assert process.returncode == 0
        os.close(child)
        child = -1
        output = b""
        while True:
            try:
                chunk = os.read(parent, 4096)
            except OSError:  # the terminal is closed once everything is read
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(parent)
        if child != -1:
            os.close(child)
    text = output.decode()
    assert text.count("\r") >= 4
    assert "\b" in text
    assert "4/4 [" + "=" * 30 + "]" in text


def test_default_stream_is_stdout_at_write_time(capsys):
    """Without file=, the bar writes to whatever sys.stdout is when it writes."""
    bar = Progbar(2, verbose=2)
    bar.update(2, [("loss", 0.5)])
    assert capsys.readouterr().out.endswith(" - loss: 0.5000\n")


def test_jupyter_counts_as_interactive(monkeypatch, capsys):
    """With ipykernel loaded, output to sys.stdout redraws in place, as in Keras 2.2.4."""
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    bar = Progbar(2, interval=0)
    bar.update(1)
    bar.update(2)
    assert capsys.readouterr().out.count("\r") == 2


def test_averages_are_weighted_by_steps(clock):
    """A metric is averaged over steps: each value counts for the steps since the last update."""
    log = io.StringIO()
    bar = Progbar(4, verbose=2, file=log)
    bar.update(2, [("loss", 1.0)])
    bar.update(3, [("loss", 4.0)])
    bar.update(4, [("loss", 2.0)])
    expected = (1.0 * 2 + 4.0 * 1 + 2.0 * 1) / 4
    assert log.getvalue() == f" - 0s - loss: {expected:.4f}\n"


def test_stateful_metrics_show_last_value(clock):
    """A stateful metric is displayed as its last value, not averaged."""
    log = io.StringIO()
    bar = Progbar(3, verbose=2, stateful_metrics=["acc"], file=log)
    for step, acc in enumerate([0.2, 0.4, 0.9], start=1):
        bar.update(step, [("acc", acc), ("loss", float(step))])
    assert log.getvalue() == " - 0s - acc: 0.9000 - loss: 2.0000\n"


def test_small_and_negative_values_formatting(clock):
    """|value| <= 1e-3 prints as exponent; negative values print plainly (2.2.4's verbose=2 did not)."""
    log = io.StringIO()
    bar = Progbar(1, verbose=2, file=log)
    bar.update(1, [("tiny", 2e-4), ("neg", -0.5), ("zero", 0.0)])
    assert log.getvalue() == " - 0s - tiny: 2.0000e-04 - neg: -0.5000 - zero: 0.0000e+00\n"


def test_array_values_are_averaged(clock):
    """An array value is reduced with its mean, as Keras 2.2.4 did."""
    log = io.StringIO()
    bar = Progbar(1, verbose=2, file=log)
    bar.update(1, [("loss", np.array([1.0, 2.0]))])
    assert log.getvalue() == " - 0s - loss: 1.5000\n"


def test_verbose_two_prints_once_at_the_end(clock):
    """verbose=2 writes nothing until current reaches target, then one line."""
    log = io.StringIO()
    bar = Progbar(5, verbose=2, file=log)
    for step in range(1, 5):
        clock.now += 1
        bar.update(step)
        assert log.getvalue() == ""
    clock.now += 1
    bar.update(5)
    assert log.getvalue() == " - 5s\n"


def test_verbose_two_without_target_prints_every_update(clock):
    """verbose=2 with target=None writes one line per update, as in Keras 2.2.4."""
    log = io.StringIO()
    bar = Progbar(None, verbose=2, file=log)
    bar.update(1)
    bar.update(2)
    assert log.getvalue() == " - 0s\n - 0s\n"


def test_verbose_zero_is_silent(clock):
    """verbose=0 writes nothing."""
    log = io.StringIO()
    bar = Progbar(2, verbose=0, file=log)
    bar.update(1, [("loss", 1.0)])
    bar.update(2)
    assert log.getvalue() == ""


def test_unknown_target_shows_count(clock):
    """With target=None the bar shows the count and '/Unknown'."""
    screen = Terminal()
    bar = Progbar(None, file=screen)
    clock.now += 2
    bar.update(40)
    assert screen.getvalue() == "\r     40/Unknown - 2s 50ms/step"


def test_unknown_target_redraws_on_every_update_on_a_terminal(clock):
    """Like Keras 2.2.4, an unknown-length bar on a terminal ignores `interval`: the last count shows."""
    screen = Terminal()
    bar = Progbar(None, interval=1.0, file=screen)
    for step in range(1, 5):
        clock.now += 0.1
        bar.update(step)
    assert screen.getvalue().count("\r") == 4
    assert screen.getvalue().endswith("\r      4/Unknown - 0s 100ms/step")


def test_unknown_target_in_a_log_is_throttled(clock):
    """Off a terminal a bar of unknown length still writes at most one line every LOG_INTERVAL seconds."""
    log = io.StringIO()
    bar = Progbar(None, file=log)
    for step in range(1, 41):
        clock.now += LOG_INTERVAL / 4
        bar.update(step)
    counts = [int(line.split("/")[0]) for line in log.getvalue().splitlines()]
    assert counts == [1, 5, 9, 13, 17, 21, 25, 29, 33, 37]
    assert "\r" not in log.getvalue()


@pytest.mark.parametrize(
    ("seconds_per_step", "eta"),
    [(0.5, "4s"), (30.0, "4:00"), (1000.0, "2:13:20")],
)
def test_eta_formats(clock, seconds_per_step, eta):
    """The ETA is shown as Ns, m:ss or h:mm:ss depending on its size."""
    screen = Terminal()
    bar = Progbar(10, width=10, file=screen)
    clock.now += 2 * seconds_per_step
    bar.update(2)
    assert screen.getvalue() == f"\r 2/10 [=>........] - ETA: {eta}"


@pytest.mark.parametrize(
    ("seconds", "per_step"),
    [(4.0, "2s/step"), (0.01, "5ms/step"), (0.00001, "5us/step")],
)
def test_time_per_step_units(clock, seconds, per_step):
    """The finished bar shows the time per step in s, ms or us."""
    log = io.StringIO()
    bar = Progbar(2, width=2, file=log)
    clock.now += seconds
    bar.update(2)
    assert log.getvalue() == f"2/2 [==] - {seconds:.0f}s {per_step}\n"


def test_add_advances_by_steps(clock):
    """add(n) moves the bar n steps forward from where it is."""
    log = io.StringIO()
    bar = Progbar(6, width=6, verbose=2, file=log)
    bar.add(2, [("loss", 3.0)])
    bar.add(4, [("loss", 0.0)])
    assert log.getvalue() == " - 0s - loss: 1.0000\n"


def test_zero_target_finishes_immediately(clock):
    """target=0 draws a full bar (Keras 2.2.4 crashed on log10(0))."""
    log = io.StringIO()
    Progbar(0, width=4, file=log).update(0)
    assert log.getvalue() == "0/0 [====] - 0s 0us/step\n"


def test_overshoot_keeps_bar_width(clock):
    """current beyond target keeps the bar at `width` characters."""
    log = io.StringIO()
    Progbar(4, width=4, file=log).update(6)
    assert log.getvalue().startswith("6/4 [====]")


@pytest.mark.parametrize("target", [-1, -0.5, True, float("nan")])
def test_rejects_invalid_target(target):
    """A negative, boolean or NaN target raises ValueError naming it."""
    with pytest.raises(ValueError, match=f"target={target!r}"):
        Progbar(target)


@pytest.mark.parametrize("width", [0, -3, 2.5, True])
def test_rejects_invalid_width(width):
    """A width that is not a positive integer raises ValueError naming it."""
    with pytest.raises(ValueError, match=f"width={width!r}"):
        Progbar(10, width=width)
