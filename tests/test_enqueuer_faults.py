"""Enqueuers under real faults: killed workers, half-written batches, errors that cannot be rebuilt.

Each test injects the fault for real (a SIGKILL, an exception class that does not unpickle, a batch
whose unpickling raises, multi-MB batches in flight at stop) and bounds every wait with a deadline,
so that a regression fails the test instead of hanging the run.
"""

from __future__ import annotations

import random
import threading
import time
import traceback

import numpy as np
import psutil
import pytest
from _enqueuer_faults import FaultySequence, SlowSequence, big_batches, faulty_generator, finishes_within
from _rss import PeakRssAnon

from kutils import ArraySequence, GeneratorEnqueuer, OrderedEnqueuer
from kutils.errors import KutilsError, WorkerDiedError, WorkerError

_DEADLINE = 60.0  # generous for a loaded 2-core machine; the point is "not forever"


def _worker_children() -> list[int]:
    """Live child processes of this one, other than multiprocessing's own servers."""
    children = []
    for child in psutil.Process().children(recursive=True):
        try:
            command = " ".join(child.cmdline())
            if child.status() != psutil.STATUS_ZOMBIE and not any(
                word in command for word in ("forkserver", "resource_tracker")
            ):
                children.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return children


def _kutils_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("kutils-")]


@pytest.mark.parametrize("consumed", [False, True], ids=["get-never-called", "after-get"])
def test_generator_processes_stop_with_multi_mb_batches(consumed: bool):
    """stop() returns promptly while 3 x 200x200x3 uint32 batches are being written (it blocked forever)."""
    enqueuer = GeneratorEnqueuer(big_batches(), use_multiprocessing=True)
    enqueuer.start(workers=2, max_queue_size=2)
    if consumed:
        batch = finishes_within(_DEADLINE, lambda: next(enqueuer.get()))
        assert [part.shape for part in batch] == [(200, 200, 3)] * 3
    else:  # let the producers fill the pipes and the queue, so that writes are in flight
        deadline = time.monotonic() + _DEADLINE
        while enqueuer.queue is not None and not enqueuer.queue.full() and time.monotonic() < deadline:
            threading.Event().wait(0.01)
    started = time.monotonic()
    finishes_within(_DEADLINE, enqueuer.stop)
    assert time.monotonic() - started < 10, "stop() should take a second or two, not the whole timeout"
    assert _worker_children() == []
    assert _kutils_threads() == []


def test_generator_process_killed_by_sigkill_is_reported():
    """A producer SIGKILLed mid-stream: get() yields what it sent, then raises naming it and SIGKILL."""
    enqueuer = GeneratorEnqueuer(faulty_generator("sigkill", fail_at=3), use_multiprocessing=True)
    enqueuer.start(workers=1)
    received: list[int] = []

    def consume() -> None:
        for value in enqueuer.get():
            received.append(value)

    with pytest.raises(WorkerDiedError, match=r"kutils-generator-worker-0 \(pid \d+\).*SIGKILL") as info:
        finishes_within(_DEADLINE, consume)
    assert isinstance(info.value, RuntimeError)
    assert isinstance(info.value, KutilsError)
    assert received == [0, 1, 2]
    assert not enqueuer.is_running()
    assert _worker_children() == []


def _check_rebuild_failure(error: BaseException, type_name: str, message: str) -> None:
    assert isinstance(error, WorkerError), repr(error)
    assert error.type_name.endswith(type_name)
    assert type_name in str(error)
    assert message in str(error)


@pytest.mark.parametrize(
    "start_method", ["fork", pytest.param(None, marks=pytest.mark.slow)], ids=["fork", "default"]
)
def test_ordered_exception_that_cannot_be_rebuilt(start_method: str | None):
    """BadBatch(path, reason) pickles in the worker but not back: get() raises WorkerError (it hung)."""
    enqueuer = OrderedEnqueuer(FaultySequence("raise"), use_multiprocessing=True, start_method=start_method)
    enqueuer.start(workers=2, max_queue_size=3)
    batches = enqueuer.get()
    assert finishes_within(_DEADLINE, lambda: [next(batches), next(batches)]) == [0, 1]
    with pytest.raises(WorkerError) as info:
        finishes_within(_DEADLINE, lambda: next(batches))
    _check_rebuild_failure(info.value, "BadBatch", "/data/shard-7.npz: truncated record")
    assert "in __getitem__" in info.value.worker_traceback
    shown = "".join(traceback.format_exception(info.value))
    assert "in __getitem__" in shown, "the worker's frames are shown"
    assert not enqueuer.is_running()
    assert _worker_children() == []


def test_ordered_batch_whose_unpickling_fails():
    """A batch that pickles but fails to unpickle in the parent: get() raises WorkerError (it hung)."""
    enqueuer = OrderedEnqueuer(FaultySequence("unloadable"), use_multiprocessing=True, start_method="fork")
    enqueuer.start(workers=2)
    batches = enqueuer.get()
    assert finishes_within(_DEADLINE, lambda: [next(batches), next(batches)]) == [0, 1]
    with pytest.raises(WorkerError) as info:
        finishes_within(_DEADLINE, lambda: next(batches))
    _check_rebuild_failure(info.value, "Unloadable", "Unloadable refuses to be unpickled here")
    assert _worker_children() == []


@pytest.mark.parametrize(
    ("fault", "type_name", "message"),
    [
        ("raise", "BadBatch", "/data/shard-7.npz: truncated record"),
        ("unloadable", "Unloadable", "Unloadable refuses to be unpickled here"),
    ],
)
def test_generator_failure_that_cannot_be_rebuilt(fault: str, type_name: str, message: str):
    """The same two faults from a generator worker process reach get() with the original's name."""
    enqueuer = GeneratorEnqueuer(faulty_generator(fault), use_multiprocessing=True)
    enqueuer.start(workers=1)
    received: list[int] = []

    def consume() -> None:
        received.extend(enqueuer.get())

    with pytest.raises(WorkerError) as info:
        finishes_within(_DEADLINE, consume)
    _check_rebuild_failure(info.value, type_name, message)
    assert received == [0, 1]
    assert _worker_children() == []


@pytest.mark.slow
def test_ordered_processes_keep_no_pickled_copy_of_a_large_sequence():
    """512 MiB ArraySequence in worker processes: parent RSS grows well under half of it (it was +576 MiB)."""
    x = np.ones((1 << 17, 1024), dtype=np.float32)  # 512 MiB, every page touched
    sequence = ArraySequence(x, batch_size=1 << 12)  # 32 batches of 16 MiB
    with PeakRssAnon() as peak:
        enqueuer = OrderedEnqueuer(sequence, use_multiprocessing=True, start_method="fork")
        enqueuer.start(workers=2, max_queue_size=2)
        batches = enqueuer.get()

        def an_epoch_and_one() -> float:
            total = 0.0
            for _ in range(len(sequence) + 1):  # across an epoch end (on_epoch_end, update())
                total += float(next(batches)[0][0, 0])
            return total

        assert finishes_within(_DEADLINE * 2, an_epoch_and_one) == len(sequence) + 1
        enqueuer.stop()
    assert peak.growth < x.nbytes // 2, f"parent RSS grew by {peak.growth / 2**20:.0f} MiB"
    assert _worker_children() == []


def _stop_while_getting(chooser: random.Random) -> None:
    """One round: four enqueuers consumed in threads, stopped in a random order from this thread."""
    enqueuers = [
        GeneratorEnqueuer(big_batches(shape=(64, 64, 3)), use_multiprocessing=True),
        GeneratorEnqueuer(big_batches(shape=(8,))),
        OrderedEnqueuer(SlowSequence(), use_multiprocessing=True, start_method="fork"),
        OrderedEnqueuer(SlowSequence(), use_multiprocessing=False),
    ]
    got_one = [threading.Event() for _ in enqueuers]
    outcomes: list[BaseException | None] = [None] * len(enqueuers)

    def consume(number: int) -> None:
        try:
            for _ in enqueuers[number].get():
                got_one[number].set()
        except BaseException as error:
            outcomes[number] = error

    for enqueuer in enqueuers:
        enqueuer.start(workers=2, max_queue_size=2)
    consumers = [threading.Thread(target=consume, args=(number,)) for number in range(len(enqueuers))]
    for consumer in consumers:
        consumer.start()
    for event in got_one:
        assert event.wait(_DEADLINE)
    for number in chooser.sample(range(len(enqueuers)), len(enqueuers)):
        finishes_within(_DEADLINE, enqueuers[number].stop)
    for consumer in consumers:
        consumer.join(_DEADLINE)
        assert not consumer.is_alive(), "get() went on waiting after stop()"
    assert outcomes == [None] * len(enqueuers), outcomes


def test_several_enqueuers_with_stop_racing_get():
    """Enqueuers of every kind at once, stopped from another thread while get() waits: all end, none hang."""
    chooser = random.Random(10)
    for _ in range(3):
        _stop_while_getting(chooser)
    assert _worker_children() == []
    assert _kutils_threads() == []
