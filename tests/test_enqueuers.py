"""OrderedEnqueuer and GeneratorEnqueuer with threads, and with processes in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import h5py
import numpy as np
import pytest

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
    """An exception in on_epoch_end is re-raised by get().

    It hung Keras 2.2.4: https://github.com/keras-team/keras/issues/12704.
    """

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


@pytest.mark.slow
def test_process_workers_take_lambdas_closures_and_local_classes():
    """As with Keras 2.2.4's forked workers: a local Sequence class holding a lambda and a closure works
    with use_multiprocessing=True (sent by value with cloudpickle; before: TypeError "cannot be pickled")."""
    offset = 100

    def add_offset(value: int) -> int:
        return value + offset  # a closure over a local variable

    class MappedSequence(IndexSequence):
        def __init__(self) -> None:
            super().__init__(length=6)
            self.transform = lambda value: value * 2

        def __getitem__(self, index: int) -> tuple[int, int]:
            value, epoch = super().__getitem__(index)
            return add_offset(self.transform(value)), epoch

    enqueuer = OrderedEnqueuer(MappedSequence(), use_multiprocessing=True)
    enqueuer.start(workers=2, max_queue_size=3)
    try:
        batches = enqueuer.get()
        got = [next(batches) for _ in range(8)]
    finally:
        enqueuer.stop(timeout=30)
    assert [value for value, _ in got] == [100, 102, 104, 106, 108, 110, 100, 102]
    assert [epoch for _, epoch in got] == [0] * 6 + [1] * 2  # on_epoch_end still reaches the workers


def test_what_cannot_cross_to_a_process_is_named():
    """A sequence holding an open lock raises TypeError naming the attribute; nothing keeps running."""
    sequence = IndexSequence()
    sequence.guard = threading.Lock()  # type: ignore[attr-defined]
    enqueuer = OrderedEnqueuer(sequence, use_multiprocessing=True)
    with pytest.raises(
        TypeError, match=r"IndexSequence cannot be pickled, even by cloudpickle: its attribute 'guard'"
    ):
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


# The process scenarios run as a helper program: see tests/_enqueuer_processes.py for each check.
PROCESS_HELPER = Path(__file__).with_name("_enqueuer_processes.py")


@pytest.mark.slow
@pytest.mark.processes
@pytest.mark.parametrize("start_method", ["default", "fork"])
def test_process_workers_in_subprocess(tmp_path: Path, start_method: str):
    """Process workers: ordered HDF5 batches, epoch updates, remote tracebacks, dead workers, no leftovers."""
    path = tmp_path / "rows.h5"
    with h5py.File(path, "w") as file:
        file.create_dataset("x", data=np.arange(40 * 3, dtype=np.float32).reshape(40, 3), chunks=(5, 3))
    result = subprocess.run(
        [sys.executable, str(PROCESS_HELPER), str(path), start_method],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""},
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    import _enqueuer_processes

    passed = [line.removeprefix("ok: ") for line in result.stdout.splitlines() if line.startswith("ok: ")]
    assert passed == [check.__name__ for check in _enqueuer_processes.CHECKS]
