"""OrderedEnqueuer and GeneratorEnqueuer with threads, and with processes in subprocesses."""

from __future__ import annotations

import threading
import time
import traceback
from pathlib import Path

import h5py
import numpy as np
import pytest
from _hdf5_support import run_python

from kutils import GeneratorEnqueuer, OrderedEnqueuer, Sequence, SequenceEnqueuer


class IndexSequence(Sequence):
    """Batch i is (i, epoch); records on_epoch_end calls; can fail at one index."""

    def __init__(self, length: int = 12, fail_at: int | None = None, delay: float = 0.0) -> None:
        self.length, self.fail_at, self.delay = length, fail_at, delay
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[int, int]:
        if index == self.fail_at:
            raise ValueError(f"boom at batch {index}")
        time.sleep(self.delay)
        return index, self.epoch

    def on_epoch_end(self) -> None:
        self.epoch += 1


def _kutils_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("kutils-")]


def test_ordered_output_and_on_epoch_end_between_epochs():
    """Batches come in index order; on_epoch_end runs after each epoch, before the next one's batches."""
    sequence = IndexSequence(length=6, delay=0.002)
    enqueuer = OrderedEnqueuer(sequence)
    enqueuer.start(workers=3, max_queue_size=4)
    batches = enqueuer.get()
    got = [next(batches) for _ in range(18)]
    enqueuer.stop()
    assert got == [(index, epoch) for epoch in range(3) for index in range(6)]


def test_shuffle_changes_order_each_epoch():
    """shuffle=True yields every batch once per epoch, in a new order each epoch."""
    enqueuer = OrderedEnqueuer(IndexSequence(length=40), shuffle=True)
    enqueuer.start(workers=2)
    batches = enqueuer.get()
    epochs = [[next(batches)[0] for _ in range(40)] for _ in range(2)]
    enqueuer.stop()
    assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(40))
    assert epochs[0] != epochs[1]
    assert epochs[0] != list(range(40))


def test_worker_exception_reraised_with_traceback():
    """An exception in __getitem__ reaches get() with the worker's frames; the enqueuer stops cleanly."""
    enqueuer = OrderedEnqueuer(IndexSequence(fail_at=3))
    enqueuer.start(workers=2)
    batches = enqueuer.get()
    assert [next(batches) for _ in range(3)] == [(0, 0), (1, 0), (2, 0)]
    with pytest.raises(ValueError, match="boom at batch 3") as info:
        next(batches)
    assert "__getitem__" in "".join(traceback.format_exception(info.value))
    assert not enqueuer.is_running()
    assert _kutils_threads() == []


def test_on_epoch_end_exception_reraised():
    """An exception in on_epoch_end (which hung Keras 2.2.4, kk#12704) is re-raised by get()."""

    class BadEpochEnd(IndexSequence):
        def on_epoch_end(self) -> None:
            raise RuntimeError("cannot reshuffle")

    enqueuer = OrderedEnqueuer(BadEpochEnd(length=2))
    enqueuer.start()
    with pytest.raises(RuntimeError, match="cannot reshuffle"):
        list(enqueuer.get())
    assert _kutils_threads() == []


def test_empty_sequence_raises_instead_of_waiting_forever():
    """A sequence with no batches makes get() raise ValueError naming it (2.2.4 spun forever)."""
    enqueuer = OrderedEnqueuer(IndexSequence(length=0))
    enqueuer.start(workers=2)
    with pytest.raises(ValueError, match=r"IndexSequence has no batches \(len\(sequence\) == 0\)"):
        next(enqueuer.get())
    assert not enqueuer.is_running()
    assert _kutils_threads() == []


def test_start_stop_lifecycle():
    """is_running follows start/stop; stop is idempotent; the context manager stops; no thread is left."""
    enqueuer = OrderedEnqueuer(IndexSequence())
    assert isinstance(enqueuer, SequenceEnqueuer)
    assert not enqueuer.is_running()
    enqueuer.stop()
    with enqueuer:
        enqueuer.start(workers=2, max_queue_size=2)
        assert enqueuer.is_running()
        assert next(enqueuer.get()) == (0, 0)
    assert not enqueuer.is_running()
    enqueuer.stop()
    assert _kutils_threads() == []


@pytest.mark.parametrize(
    ("workers", "max_queue_size", "bad"), [(0, 10, "workers=0"), (1, 0, "max_queue_size=0")]
)
def test_start_arguments_checked(workers: int, max_queue_size: int, bad: str):
    """workers and max_queue_size must be positive ints; the error names the bad value."""
    with pytest.raises(ValueError, match=bad):
        OrderedEnqueuer(IndexSequence()).start(workers=workers, max_queue_size=max_queue_size)


def test_unpicklable_sequence_with_processes_is_explained():
    """use_multiprocessing with a sequence that cannot be pickled raises TypeError naming its class."""

    class Local(IndexSequence):
        pass

    enqueuer = OrderedEnqueuer(Local(), use_multiprocessing=True)
    with pytest.raises(TypeError, match="Local cannot be pickled"):
        enqueuer.start(workers=1)
    assert not enqueuer.is_running()


def test_unknown_start_method_rejected():
    """An unknown start_method raises ValueError naming it and the available ones."""
    enqueuer = OrderedEnqueuer(IndexSequence(), use_multiprocessing=True, start_method="teleport")
    with pytest.raises(ValueError, match=r"start_method='teleport' .*'spawn'"):
        enqueuer.start()
    assert not enqueuer.is_running()
    assert _kutils_threads() == []


def _plain_generator(count: int):
    for value in range(count):
        time.sleep(0.0005)
        yield value


def test_generator_enqueuer_threads_share_a_generator():
    """Several threads on one plain generator produce each item exactly once, then get() ends."""
    enqueuer = GeneratorEnqueuer(_plain_generator(200))
    enqueuer.start(workers=3, max_queue_size=5)
    values = list(enqueuer.get())
    assert sorted(values) == list(range(200))
    assert not enqueuer.is_running()
    assert _kutils_threads() == []


def test_generator_enqueuer_takes_keras_224_keyword_names():
    """The 2.2.4 keywords `sequence=` and `random_seed=` are accepted and used."""
    enqueuer = GeneratorEnqueuer(sequence=_plain_generator(5), random_seed=3)
    assert enqueuer.random_seed == 3
    enqueuer.start(workers=1, max_queue_size=2)
    assert list(enqueuer.get()) == list(range(5))


def test_generator_enqueuer_exception_reraised():
    """An exception raised by the generator is re-raised by get() after the items before it."""

    def failing():
        yield 1
        raise KeyError("no more data")

    enqueuer = GeneratorEnqueuer(failing())
    enqueuer.start()
    batches = enqueuer.get()
    assert next(batches) == 1
    with pytest.raises(KeyError, match="no more data") as info:
        next(batches)
    assert "in failing" in "".join(traceback.format_exception(info.value)), "the generator's frame is kept"
    assert _kutils_threads() == []


def test_generator_enqueuer_wait_time_deprecated():
    """wait_time is accepted but ignored, with a DeprecationWarning as in 2.2.4."""
    with pytest.warns(DeprecationWarning, match="wait_time"):
        GeneratorEnqueuer(_plain_generator(1), wait_time=0.05)


def test_generator_enqueuer_stop_midway():
    """stop() on an endless generator ends its threads."""

    def endless():
        while True:
            yield np.zeros(3)

    enqueuer = GeneratorEnqueuer(endless())
    enqueuer.start(workers=2, max_queue_size=3)
    batches = enqueuer.get()
    next(batches)
    enqueuer.stop(timeout=5)
    assert _kutils_threads() == []


_PROCESS_SCRIPT = """
import os, signal, sys, time, traceback
import numpy as np, psutil
from kutils import ArraySequence, GeneratorEnqueuer, HDF5Matrix, OrderedEnqueuer, Sequence
from kutils._workers import WorkerDiedError

class EpochSequence(Sequence):
    def __init__(self, path):
        self.rows = HDF5Matrix(path, "x")
        self.epoch = 0
    def __len__(self):
        return 5
    def __getitem__(self, index):
        if index == 4 and self.epoch == 2:
            raise ValueError("boom in epoch 2")
        return self.rows[[index, 0]], self.epoch, os.getpid()
    def on_epoch_end(self):
        self.epoch += 1

class SlowSequence(Sequence):
    def __len__(self):
        return 100
    def __getitem__(self, index):
        time.sleep(0.05)
        return index

def numbers(count):
    for value in range(count):
        yield value, float(np.random.random())

def failing_generator():
    yield 1
    raise KeyError("no more rows")

def infrastructure(process):
    return any(word in " ".join(process.cmdline()) for word in ("forkserver", "resource_tracker"))

def leftover_children():
    return [child.pid for child in psutil.Process().children(recursive=True)
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE and not infrastructure(child)]

if __name__ == "__main__":
    path, start_method = sys.argv[1], (sys.argv[2] if sys.argv[2] != "default" else None)
    x = np.asarray(HDF5Matrix(path, "x"))

    # HDF5-backed ArraySequence in worker processes: ordered, equal to the data.
    enqueuer = OrderedEnqueuer(ArraySequence(HDF5Matrix(path, "x"), batch_size=7), use_multiprocessing=True,
                               start_method=start_method)
    enqueuer.start(workers=2, max_queue_size=3)
    batches = enqueuer.get()
    got = np.concatenate([next(batches)[0] for _ in range(len(x) // 7 + 1)])
    enqueuer.stop()
    assert np.array_equal(got, x), "ordered HDF5 batches"
    assert leftover_children() == [], leftover_children()

    # ArraySequence(shuffle=True): the reshuffled order reaches the workers every epoch.
    sequence = ArraySequence(HDF5Matrix(path, "x"), batch_size=8, shuffle=True, seed=0)
    enqueuer = OrderedEnqueuer(sequence, use_multiprocessing=True, start_method=start_method)
    enqueuer.start(workers=2)
    batches = enqueuer.get()
    epochs = [np.concatenate([next(batches)[0][:, 0] for _ in range(5)]) for _ in range(3)]
    enqueuer.stop()
    assert all(sorted(epoch.tolist()) == sorted(x[:, 0].tolist()) for epoch in epochs), epochs
    assert len({tuple(epoch.tolist()) for epoch in epochs}) == 3, "a new order every epoch"

    # on_epoch_end updates reach the workers; an exception comes back with the worker's traceback.
    enqueuer = OrderedEnqueuer(EpochSequence(path), use_multiprocessing=True, start_method=start_method)
    enqueuer.start(workers=2)
    batches = enqueuer.get()
    seen = [next(batches) for _ in range(14)]
    assert [epoch for _, epoch, _ in seen] == [0] * 5 + [1] * 5 + [2] * 4, seen
    assert all(np.array_equal(rows, x[[index % 5, 0]]) for index, (rows, _, _) in enumerate(seen))
    assert os.getpid() not in {pid for _, _, pid in seen}
    try:
        next(batches)
        raise AssertionError("no exception")
    except ValueError as error:
        text = "".join(traceback.format_exception(error))
        assert "boom in epoch 2" in text and "in __getitem__" in text, text
    assert not enqueuer.is_running()
    assert leftover_children() == [], leftover_children()

    # A killed worker fails the batch instead of hanging.
    enqueuer = OrderedEnqueuer(SlowSequence(), use_multiprocessing=True, start_method=start_method)
    enqueuer.start(workers=2, max_queue_size=4)
    batches = enqueuer.get()
    next(batches)
    os.kill(enqueuer._pool.pids[1], signal.SIGKILL)
    try:
        for _ in range(100):
            next(batches)
        raise AssertionError("no WorkerDiedError")
    except WorkerDiedError as error:
        assert "exited with code -9" in str(error), error
    assert leftover_children() == [], leftover_children()

    # GeneratorEnqueuer in processes: each worker runs a copy, seeded random_seed + worker number.
    enqueuer = GeneratorEnqueuer(numbers(4), use_multiprocessing=True, random_seed=10)
    enqueuer.start(workers=2)
    values = list(enqueuer.get())
    assert sorted(value for value, _ in values) == [0, 0, 1, 1, 2, 2, 3, 3], values
    draws = {np.random.RandomState(seed).random() for seed in (10, 11)}
    assert {draw for value, draw in values if value == 0} == draws, values
    failing = GeneratorEnqueuer(failing_generator(), use_multiprocessing=True)
    failing.start(workers=1)
    try:
        list(failing.get())
        raise AssertionError("no exception")
    except KeyError as error:
        assert "no more rows" in str(error) and "failing_generator" in str(error.__cause__), error.__cause__
    endless = GeneratorEnqueuer(numbers(10**9), use_multiprocessing=True)
    endless.start(workers=2, max_queue_size=2)
    next(endless.get())
    endless.stop(timeout=10)
    assert leftover_children() == [], leftover_children()
    print("ok")
"""


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["default", "fork"])
def test_process_workers_in_subprocess(tmp_path: Path, start_method: str):
    """Process workers: ordered HDF5 batches, epoch updates, remote tracebacks, dead workers, no leftovers."""
    path = tmp_path / "rows.h5"
    with h5py.File(path, "w") as file:
        file.create_dataset("x", data=np.arange(40 * 3, dtype=np.float32).reshape(40, 3), chunks=(5, 3))
    out = run_python(_PROCESS_SCRIPT, timeout=240, args=(str(path), start_method))
    assert out.strip().endswith("ok")
