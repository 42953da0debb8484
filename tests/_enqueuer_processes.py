"""Helper program for tests/test_enqueuers.py: the enqueuers with worker PROCESSES, in a fresh interpreter.

    python tests/_enqueuer_processes.py ROWS_H5 START_METHOD

It runs in its own process because worker processes are started from it
(spawned workers import this file to find the sequence classes) and because it
checks that no child process is left behind. Each `check_*` function is one
behaviour; the program runs them in order and prints `ok: <name>` after each.
ROWS_H5 holds a dataset `x` of 40 rows; START_METHOD is a multiprocessing start
method or `default`.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import traceback
from collections.abc import Iterator

import numpy as np
import psutil
import pytest
from _enqueuer_faults import SlowSequence

from kutils import ArraySequence, GeneratorEnqueuer, HDF5Matrix, OrderedEnqueuer, Sequence, WorkerDiedError


class EpochSequence(Sequence):
    """Batch i is (rows [i, 0], epoch, worker pid); index 4 of epoch 2 raises."""

    def __init__(self, path: str) -> None:
        self.rows = HDF5Matrix(path, "x")
        self.epoch = 0

    def __len__(self) -> int:
        return 5

    def __getitem__(self, index: int) -> tuple[np.ndarray, int, int]:
        if index == 4 and self.epoch == 2:
            raise ValueError("boom in epoch 2")
        return self.rows[[index, 0]], self.epoch, os.getpid()

    def on_epoch_end(self) -> None:
        self.epoch += 1


def numbers(count: int) -> Iterator[tuple[int, float]]:
    for value in range(count):
        yield value, float(np.random.random())


def failing_generator() -> Iterator[int]:
    yield 1
    raise KeyError("no more rows")


def _infrastructure(process: psutil.Process) -> bool:
    return any(word in " ".join(process.cmdline()) for word in ("forkserver", "resource_tracker"))


def leftover_children() -> list[int]:
    """Child processes still running, other than multiprocessing's own helpers."""
    return [
        child.pid
        for child in psutil.Process().children(recursive=True)
        if child.is_running() and child.status() != psutil.STATUS_ZOMBIE and not _infrastructure(child)
    ]


def check_ordered_hdf5_batches(path: str, start_method: str | None) -> None:
    """An HDF5-backed ArraySequence in worker processes: batches in order, equal to the data."""
    x = np.asarray(HDF5Matrix(path, "x"))
    sequence = ArraySequence(HDF5Matrix(path, "x"), batch_size=7)
    enqueuer = OrderedEnqueuer(sequence, use_multiprocessing=True, start_method=start_method)
    enqueuer.start(workers=2, max_queue_size=3)
    batches = enqueuer.get()
    got = np.concatenate([next(batches)[0] for _ in range(len(x) // 7 + 1)])
    enqueuer.stop()
    assert np.array_equal(got, x), "ordered HDF5 batches"
    assert leftover_children() == [], leftover_children()


def check_reshuffled_every_epoch(path: str, start_method: str | None) -> None:
    """ArraySequence(shuffle=True): the new order reaches the workers every epoch."""
    x = np.asarray(HDF5Matrix(path, "x"))
    sequence = ArraySequence(HDF5Matrix(path, "x"), batch_size=8, shuffle=True, seed=0)
    enqueuer = OrderedEnqueuer(sequence, use_multiprocessing=True, start_method=start_method)
    enqueuer.start(workers=2)
    batches = enqueuer.get()
    epochs = [np.concatenate([next(batches)[0][:, 0] for _ in range(5)]) for _ in range(3)]
    enqueuer.stop()
    assert all(sorted(epoch.tolist()) == sorted(x[:, 0].tolist()) for epoch in epochs), epochs
    assert len({tuple(epoch.tolist()) for epoch in epochs}) == 3, "a new order every epoch"


def check_epoch_updates_and_remote_traceback(path: str, start_method: str | None) -> None:
    """on_epoch_end updates reach the workers; an exception comes back with the worker's traceback."""
    x = np.asarray(HDF5Matrix(path, "x"))
    enqueuer = OrderedEnqueuer(EpochSequence(path), use_multiprocessing=True, start_method=start_method)
    enqueuer.start(workers=2)
    batches = enqueuer.get()
    seen = [next(batches) for _ in range(14)]
    assert [epoch for _, epoch, _ in seen] == [0] * 5 + [1] * 5 + [2] * 4, seen
    assert all(np.array_equal(rows, x[[index % 5, 0]]) for index, (rows, _, _) in enumerate(seen))
    assert os.getpid() not in {pid for _, _, pid in seen}
    with pytest.raises(ValueError, match="boom in epoch 2") as info:
        next(batches)
    assert "in __getitem__" in "".join(traceback.format_exception(info.value)), "the worker's frames"
    assert not enqueuer.is_running()
    assert leftover_children() == [], leftover_children()


def check_killed_worker_fails_the_batch(path: str, start_method: str | None) -> None:
    """A worker killed with SIGKILL fails its batch with WorkerDiedError instead of hanging."""
    # 100 batches of 50 ms each, so that a worker is busy when it gets killed.
    enqueuer = OrderedEnqueuer(
        SlowSequence(length=100, delay=0.05), use_multiprocessing=True, start_method=start_method
    )
    enqueuer.start(workers=2, max_queue_size=4)
    batches = enqueuer.get()
    next(batches)
    os.kill(enqueuer._pool.pids[1], signal.SIGKILL)
    with pytest.raises(WorkerDiedError, match="exited with code -9"):
        list(itertools.islice(batches, 100))  # all 100 batches if no worker had died
    assert leftover_children() == [], leftover_children()


def check_generator_processes(path: str, start_method: str | None) -> None:
    """GeneratorEnqueuer in processes: each worker runs a copy seeded random_seed + worker number;
    a generator's exception comes back with its traceback; stop() ends an endless one."""
    enqueuer = GeneratorEnqueuer(numbers(4), use_multiprocessing=True, random_seed=10)
    enqueuer.start(workers=2)
    values = list(enqueuer.get())
    assert sorted(value for value, _ in values) == [0, 0, 1, 1, 2, 2, 3, 3], values
    draws = {np.random.RandomState(seed).random() for seed in (10, 11)}
    assert {draw for value, draw in values if value == 0} == draws, values
    failing = GeneratorEnqueuer(failing_generator(), use_multiprocessing=True)
    failing.start(workers=1)
    with pytest.raises(KeyError, match="no more rows") as info:
        list(failing.get())
    assert "failing_generator" in str(info.value.__cause__), "the generator's traceback"
    endless = GeneratorEnqueuer(numbers(10**9), use_multiprocessing=True)
    endless.start(workers=2, max_queue_size=2)
    next(endless.get())
    endless.stop(timeout=10)
    assert leftover_children() == [], leftover_children()


CHECKS = [
    check_ordered_hdf5_batches,
    check_reshuffled_every_epoch,
    check_epoch_updates_and_remote_traceback,
    check_killed_worker_fails_the_batch,
    check_generator_processes,
]

if __name__ == "__main__":
    rows_path, method = sys.argv[1], (sys.argv[2] if sys.argv[2] != "default" else None)
    for check in CHECKS:
        check(rows_path, method)
        print(f"ok: {check.__name__}", flush=True)
