"""`Progbar`: the Keras 2.2.4 text progress bar, safe for terminals and CI logs alike.

On a terminal (or in Jupyter) the bar redraws itself in place, exactly like
Keras 2.2.4. When the output is not a terminal (a CI log, a file, a pipe),
Keras 2.2.4 wrote a new line on every redraw; here a plain line is written at
most every `LOG_INTERVAL` seconds, plus the final line, and never a control
character.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

import numpy as np

__all__ = ["LOG_INTERVAL", "Progbar"]

# Seconds between two progress lines when the output is not a terminal.
LOG_INTERVAL = 10.0


class Progbar:
    """Displays a progress bar.

    The output is the Keras 2.2.4 one, for example
    `  6/10 [=================>............] - ETA: 1s - loss: 0.2500` while it
    runs and `10/10 [==============================] - 2s 200ms/step - loss: 0.2000`
    when `current` reaches `target`.

    Args:
        target: Total number of steps expected, None if unknown.
        width: Progress bar width on screen, in characters.
        verbose: Verbosity mode: 0 (silent), 1 (a bar, redrawn at most every
            `interval` seconds) or 2 (one line when `current` reaches `target`;
            one line per update when `target` is None).
        interval: Minimum visual progress update interval, in seconds. As in
            Keras 2.2.4, a bar with `target=None` on a terminal redraws on
            every update.
        stateful_metrics: Iterable of names of metrics that should *not* be
            averaged over time: their last value is displayed as-is. All other
            metrics are averaged, weighted by the steps each value covers.
        file: Keyword-only, new in kutils. The text stream to write to;
            None (the default) means `sys.stdout` at the time of each write.

    Raises:
        ValueError: If `target` is negative or `width` is not a positive integer.

    Example:

    ```python
    bar = Progbar(target=3)
    for step in range(1, 4):
        bar.update(step, values=[("loss", 1.0 / step)])
    ```
    """

    def __init__(
        self,
        target: float | None,
        width: int = 30,
        verbose: int = 1,
        interval: float = 0.05,
        stateful_metrics: Iterable[str] | None = None,
        *,
        file: TextIO | None = None,
    ) -> None:
        if target is not None and (isinstance(target, bool) or not target >= 0):
            raise ValueError(f"Progbar target must be None or a number >= 0, got target={target!r}.")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"Progbar width must be a positive integer, got width={width!r}.")
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.stateful_metrics = set(stateful_metrics) if stateful_metrics else set()
        self.file = file
        self._dynamic_display = _is_interactive(self._stream())
        self._total_width = 0
        self._seen_so_far: float = 0
        # name -> [weighted sum, weight]; a stateful metric is stored as [value, 1].
        self._values: dict[str, list[Any]] = {}
        self._start = time.time()
        self._last_update = 0.0

    def update(self, current: float, values: Sequence[tuple[str, Any]] | None = None) -> None:
        """Updates the progress bar.

        Args:
            current: Index of the current step (the number of steps done).
            values: List of `(name, value_for_last_step)` tuples. A name in
                `stateful_metrics` is displayed as-is; any other is displayed
                as its average over the steps seen so far.
        """
        self._record(current, values or [])
        now = time.time()
        if self.verbose == 1:
            self._show_bar(current, now)
        elif self.verbose == 2 and (self.target is None or current >= self.target):
            self._write(self._elapsed(now) + self._metrics_text() + "\n")

    def add(self, n: float, values: Sequence[tuple[str, Any]] | None = None) -> None:
        """Advances the progress bar by `n` steps (`update(seen + n, values)`).

        Args:
            n: Number of steps done since the last update.
            values: As in `update`.
        """
        self.update(self._seen_so_far + n, values)

    def _record(self, current: float, values: Sequence[tuple[str, Any]]) -> None:
        steps = current - self._seen_so_far
        for name, value in values:
            if name in self.stateful_metrics:
                self._values[name] = [value, 1]
            elif name in self._values:
                self._values[name][0] += value * steps
                self._values[name][1] += steps
            else:
                self._values[name] = [value * steps, steps]
        self._seen_so_far = current

    def _show_bar(self, current: float, now: float) -> None:
        finished = self.target is not None and current >= self.target
        if self._dynamic_display:
            # As in Keras 2.2.4, a bar of unknown length redraws on every update (any may be the last).
            may_skip = self.target is not None and not finished
            min_gap = self.interval
        else:
            may_skip = not finished
            min_gap = max(self.interval, LOG_INTERVAL)
        if may_skip and now - self._last_update < min_gap:
            return
        bar = self._bar_text(current)
        info = self._timing_text(current, now) + self._metrics_text()
        if self._dynamic_display:
            previous_width = self._total_width
            self._total_width = len(bar) + len(info)
            padding = " " * max(0, previous_width - self._total_width)
            ending = "\n" if finished else ""
            self._write("\b" * previous_width + "\r" + bar + info + padding + ending)
        else:
            self._write(bar + info + "\n")
        self._last_update = now

    def _bar_text(self, current: float) -> str:
        if self.target is None:
            return f"{int(current):7d}/Unknown"
        digits = len(str(int(self.target)))
        text = f"{int(current):{digits}d}/{int(self.target)} ["
        done = min(self.width, int(self.width * current / self.target)) if self.target else self.width
        if done > 0:
            text += "=" * (done - 1) + (">" if current < self.target else "=")
        return text + "." * (self.width - done) + "]"

    def _timing_text(self, current: float, now: float) -> str:
        per_step = (now - self._start) / current if current else 0.0
        if self.target is not None and current < self.target:
            return " - ETA: " + _format_eta(per_step * (self.target - current))
        return self._elapsed(now) + _format_per_step(per_step)

    def _elapsed(self, now: float) -> str:
        return f" - {now - self._start:.0f}s"

    def _metrics_text(self) -> str:
        text = ""
        for name, (total, weight) in self._values.items():
            average = float(np.mean(total / max(1, weight)))
            text += f" - {name}: {average:.4f}" if abs(average) > 1e-3 else f" - {name}: {average:.4e}"
        return text

    def _stream(self) -> TextIO:
        return self.file if self.file is not None else sys.stdout

    def _write(self, text: str) -> None:
        stream = self._stream()
        stream.write(text)
        stream.flush()


def _is_interactive(stream: TextIO) -> bool:
    """Whether a bar can redraw itself in place on `stream` (a terminal, or Jupyter's stdout)."""
    isatty = getattr(stream, "isatty", None)
    try:
        if isatty is not None and isatty():
            return True
    except ValueError:  # a closed stream
        return False
    return stream is sys.stdout and "ipykernel" in sys.modules


def _format_eta(seconds: float) -> str:
    if seconds > 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds > 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _format_per_step(seconds: float) -> str:
    if seconds >= 1:
        return f" {seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/step"
    return f" {seconds * 1e6:.0f}us/step"
