"""Sequences and generators that fail the way real ones do, for tests/test_enqueuer_faults.py.

They live in a module of their own so that worker processes (forkserver, spawn) can import them.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from kutils import Sequence


class BadBatch(Exception):
    """The common custom exception whose __init__ takes other arguments than its args: it pickles,
    but unpickling calls BadBatch(message) and fails."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def _refuse_to_load(name: str) -> Any:
    raise ValueError(f"{name} refuses to be unpickled here")


class Unloadable:
    """A batch that pickles in the worker but whose unpickling in the parent raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        return _refuse_to_load, ("Unloadable",)


class FaultySequence(Sequence):
    """Batch i is i, except at `fail_at`: raises BadBatch (fault='raise') or returns an Unloadable."""

    def __init__(self, fault: str, fail_at: int = 2, length: int = 6) -> None:
        self.fault, self.fail_at, self.length = fault, fail_at, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Any:
        if index == self.fail_at:
            if self.fault == "raise":
                raise BadBatch("/data/shard-7.npz", "truncated record")
            return Unloadable()
        return index


def faulty_generator(fault: str, fail_at: int = 2) -> Iterator[Any]:
    """Yields 0, 1, ... then at `fail_at`: raises BadBatch, yields an Unloadable, or SIGKILLs itself."""
    yield from range(fail_at)
    if fault == "raise":
        raise BadBatch("/data/shard-7.npz", "truncated record")
    if fault == "unloadable":
        yield Unloadable()
    if fault == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError(f"unknown fault {fault!r}")


def big_batches(shape: tuple[int, ...] = (200, 200, 3), count: int = 3) -> Iterator[Any]:
    """Endless batches of `count` uint32 arrays of `shape` (a few MB pickled)."""
    while True:
        yield tuple(np.ones(shape, dtype=np.uint32) for _ in range(count))


class SlowSequence(Sequence):
    """Batch i is i, computed at the pace given by `delay` seconds (threads and processes)."""

    def __init__(self, length: int = 50, delay: float = 0.01) -> None:
        self.length, self.delay = length, delay

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> int:
        threading.Event().wait(self.delay)
        return index


def finishes_within(seconds: float, function: Callable[[], Any]) -> Any:
    """Runs `function` in a daemon thread; returns its result, or fails if it has not ended in `seconds`.

    A hang then fails the test instead of hanging the whole run.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise AssertionError(f"{getattr(function, '__name__', function)} did not finish within {seconds} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
