"""Shared-memory batches from process workers (`kutils._shm`): one copy, slots reused, no /dev/shm leaks."""

from __future__ import annotations

import gc
import glob
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kutils import _shm

PROGRAM = Path(__file__).with_name("_shm_program.py")
BIG = (512, 1024)  # as float32: 2 MiB, above OUT_OF_BAND_MIN_BYTES


def _own_segments() -> list[str]:
    return glob.glob(f"/dev/shm/kutils-{os.getpid()}-*")


@pytest.fixture
def ring() -> Iterator[None]:
    """This process plays the worker: a fresh ring, and its segments removed afterwards."""
    _shm._ring = None
    yield
    gc.collect()
    _shm.remove_segments_of([os.getpid()])
    _shm._ring = None
    assert _own_segments() == []


def _round_trip(value: object) -> tuple[object, bool]:
    body, placement = _shm.dumps(value)
    return _shm.loads(body, placement), placement is not None


def test_large_arrays_go_through_a_slot_small_ones_and_objects_through_the_pickle(ring: None):
    big = np.arange(np.prod(BIG), dtype=np.float32).reshape(BIG)
    value = {"x": big, "y": np.arange(5), "name": "batch", "nested": [big[:, :3].copy(), 7]}
    body, placement = _shm.dumps(value)
    assert placement is not None
    assert len(body) < 64 << 10  # the 2 MiB array is not in the pickle
    got = _shm.loads(body, placement)
    assert isinstance(got, dict)
    np.testing.assert_array_equal(got["x"], big)
    assert got["x"].dtype == np.float32
    assert not got["x"].flags.owndata  # a view of the slot
    assert got["x"].flags.writeable
    assert got["name"] == "batch"
    np.testing.assert_array_equal(got["nested"][0], big[:, :3])
    assert _own_segments() == []  # the parent unlinks a slot's name as soon as it maps it


def test_slot_returns_to_the_ring_when_the_last_array_goes(ring: None):
    big = np.ones(BIG, dtype=np.float32)
    first, shared = _round_trip(big)
    assert shared
    segment = _shm._worker_ring().segments[0]
    assert segment.buf[0] == 1
    part = first[3:5]  # type: ignore[index]
    del first
    gc.collect()
    assert segment.buf[0] == 1  # a view of it still lives
    del part
    gc.collect()
    assert segment.buf[0] == 0
    again, shared = _round_trip(big * 2)
    assert shared
    assert len(_shm._worker_ring().segments) == 1  # reused, not a new segment
    np.testing.assert_array_equal(again, big * 2)


def test_full_ring_falls_back_to_the_pipe(ring: None):
    big = np.ones(BIG, dtype=np.float32)
    held = []
    for _ in range(_shm.SLOTS_PER_WORKER):
        value, shared = _round_trip(big)
        assert shared
        held.append(value)
    value, shared = _round_trip(big)  # every slot is still in use by the caller
    assert not shared
    np.testing.assert_array_equal(value, big)
    assert len(_shm._worker_ring().segments) == _shm.SLOTS_PER_WORKER


def test_budget_from_the_environment_bounds_the_ring(ring: None, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KUTILS_SHARED_MEMORY_BYTES", str(5 << 20))  # one 2.5 MiB slot fits, two do not
    big = np.ones(BIG, dtype=np.float32)
    first, shared = _round_trip(big)
    assert shared
    second, shared = _round_trip(big)  # the first slot is still in use; a second would pass the budget
    assert not shared
    np.testing.assert_array_equal(second, big)
    assert sum(segment.size for segment in _shm._worker_ring().segments) <= 5 << 20
    del first


def test_non_contiguous_and_object_arrays_are_pickled(ring: None):
    strided = np.ones((2048, 1024), dtype=np.float32)[:, ::2]
    objects = np.array([{"a": 1}] * 10, dtype=object)
    for value in (strided, objects):
        got, _ = _round_trip(value)
        assert isinstance(got, np.ndarray)
        assert got.shape == value.shape


@pytest.mark.slow
def test_process_workers_send_batches_through_shared_memory_and_leave_nothing():
    """OrderedEnqueuer and GeneratorEnqueuer processes: intact batches, and no /dev/shm segment left after
    stop(), after an exception, after a SIGKILLed worker; Keras fit on `enqueuer.get()` takes its batches
    from the slots (see tests/_shm_program.py)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, str(PROGRAM)], capture_output=True, text=True, timeout=600, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
    assert "leaked" not in result.stderr


@pytest.mark.slow
def test_normal_exit_with_running_workers_leaves_no_segment():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, str(PROGRAM), "exit"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    pids = [int(pid) for pid in result.stdout.split("pids", 1)[1].split()]
    assert [name for pid in pids for name in glob.glob(f"/dev/shm/kutils-{pid}-*")] == []
    assert "leaked" not in result.stderr


_MAKER = """
import multiprocessing, os, sys
from multiprocessing import shared_memory
from kutils import _shm

def make_segments(ready):
    # A worker that keeps making segments until it is ended, as one with batches in hand does.
    for number in range(10**6):
        shared_memory.SharedMemory(name=f"kutils-{os.getpid()}-{number}", create=True, size=4096).close()
        if number == 0:
            ready.set()

_shm.share_tracker()  # as kutils' pools do before starting workers
ready = multiprocessing.get_context("fork").Event()
worker = multiprocessing.get_context("fork").Process(target=make_segments, args=(ready,), daemon=True)
worker.start()
_shm.watch([worker])
assert ready.wait(60), "the worker made no segment"
print("pid", worker.pid, flush=True)
"""


def test_exit_ends_a_worker_still_making_segments_before_removing_them():
    """At interpreter exit kutils ends the watched workers, then removes their segments: a worker still
    running after the sweep would leave segments that the resource tracker reports as leaked."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", _MAKER], capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    pid = int(result.stdout.split("pid", 1)[1].split()[0])
    assert glob.glob(f"/dev/shm/kutils-{pid}-*") == []
    assert "leaked" not in result.stderr, result.stderr[-2000:]


_GENERATOR_ONLY = """
import numpy as np
from kutils import GeneratorEnqueuer

def images():
    for index in range(10**6):
        yield np.full((64, 128, 128, 3), index % 250, np.uint8)

enqueuer = GeneratorEnqueuer(images(), use_multiprocessing=True)
enqueuer.start(workers=2, max_queue_size=4)
batches = enqueuer.get()
for _ in range(10):
    assert next(batches).shape == (64, 128, 128, 3)
enqueuer.stop()
print("done")
"""


@pytest.mark.slow
def test_forked_generator_workers_alone_leave_no_tracker_warning():
    """GeneratorEnqueuer forks its workers; when it is the program's first user of shared memory, each
    worker used to start a resource tracker of its own, which at its exit reported every segment the
    parent had already unlinked as leaked ('No such file or directory')."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-c", _GENERATOR_ONLY]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert "resource_tracker" not in result.stderr, result.stderr[-2000:]
