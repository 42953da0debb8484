"""Numpy batches from worker processes through shared memory: one copy, and a small descriptor on the pipe.

A worker pickles each result with protocol 5: arrays of at least
`OUT_OF_BAND_MIN_BYTES` come out as raw buffers, which it copies into a free
slot of its ring of `multiprocessing.shared_memory` segments; only the rest of
the pickle and the slot's name and layout go through the pipe. The parent maps
the slot and rebuilds the arrays as views of it (no second copy); when the
last of those arrays is garbage-collected, the slot is marked free again and
the worker reuses it. Everything else is pickled through the pipe as before,
and so is a batch for which no slot is free (the parent still holds all of
them) or that would not fit the budget.

`KUTILS_SHARED_MEMORY=0` in the environment of the worker processes (for
example set before the first enqueuer starts) turns this off: everything
goes through the pipe.

The ring: at most `SLOTS_PER_WORKER` segments per worker, each sized when it
is made from the batch that needs it (x1.25, so that slightly larger batches
fit), at most `BUDGET_BYTES_PER_WORKER` in all (1 GiB, or
`KUTILS_SHARED_MEMORY_BYTES` from the worker's environment). Segments are named
`kutils-<worker pid>-<n>`. No segment outlives its use as a name in /dev/shm:
the parent unlinks a segment as soon as it has mapped it (the memory lives on
while mapped), and the pool's `close()` unlinks whatever its workers left
behind, even a SIGKILLed worker's (`remove_segments_of`).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import pickle
import threading
import weakref
from multiprocessing import resource_tracker, shared_memory
from multiprocessing.process import BaseProcess
from typing import Any

__all__ = [
    "BUDGET_BYTES_PER_WORKER",
    "OUT_OF_BAND_MIN_BYTES",
    "SLOTS_PER_WORKER",
    "dumps",
    "loads",
    "remove_segments_of",
    "share_tracker",
    "watch",
]

OUT_OF_BAND_MIN_BYTES = 1 << 20
SLOTS_PER_WORKER = 4
BUDGET_BYTES_PER_WORKER = 1 << 30
_HEADER = 64  # byte 0: 1 while the parent holds the slot's arrays, 0 when the worker may reuse it
_ALIGN = 64
_SHM_DIR = "/dev/shm"

Placement = tuple[str, tuple[tuple[int, int], ...]]


def _buf(segment: shared_memory.SharedMemory) -> memoryview:
    view = segment.buf
    if view is None:  # closed
        raise ValueError(f"shared memory segment {segment.name} is closed")
    return view


def _aligned(size: int) -> int:
    return -(-size // _ALIGN) * _ALIGN


class _Ring:
    """The slots of one worker process."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.segments: list[shared_memory.SharedMemory] = []
        self.budget = int(os.environ.get("KUTILS_SHARED_MEMORY_BYTES", BUDGET_BYTES_PER_WORKER))

    def acquire(self, size: int) -> shared_memory.SharedMemory | None:
        for segment in self.segments:
            if _buf(segment)[0] == 0 and segment.size - _HEADER >= size:
                _buf(segment)[0] = 1
                return segment
        held = sum(segment.size for segment in self.segments)
        wanted = _HEADER + _aligned(int(size * 1.25))
        if len(self.segments) >= SLOTS_PER_WORKER or held + wanted > self.budget:
            return None
        name = f"kutils-{self.pid}-{len(self.segments)}"
        segment = shared_memory.SharedMemory(name=name, create=True, size=wanted)
        _buf(segment)[0] = 1
        self.segments.append(segment)
        return segment


_ring: _Ring | None = None


def _worker_ring() -> _Ring:
    global _ring
    if _ring is None or _ring.pid != os.getpid():  # a forked child makes its own
        _ring = _Ring()
    return _ring


def dumps(value: Any) -> tuple[bytes, Placement | None]:
    """Pickles `value` in a worker: `(pickle, None)`, or `(pickle without its large arrays, placement)`."""
    buffers: list[pickle.PickleBuffer] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        try:
            size = buffer.raw().nbytes
        except BufferError:  # not contiguous: in the pickle
            return True
        if size < OUT_OF_BAND_MIN_BYTES:
            return True
        buffers.append(buffer)
        return False

    if os.environ.get("KUTILS_SHARED_MEMORY", "1") == "0":
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), None
    body = pickle.dumps(value, protocol=5, buffer_callback=out_of_band)
    if not buffers:
        return body, None
    raws = [buffer.raw() for buffer in buffers]
    segment = _worker_ring().acquire(sum(_aligned(raw.nbytes) for raw in raws))
    if segment is None:
        return pickle.dumps(value, protocol=5), None
    layout = []
    offset = _HEADER
    for raw in raws:
        _buf(segment)[offset : offset + raw.nbytes] = raw.cast("B")
        layout.append((offset, raw.nbytes))
        offset += _aligned(raw.nbytes)
    return body, (segment.name, tuple(layout))


# -- parent side -------------------------------------------------------------------------------------------


class _Mapping(shared_memory.SharedMemory):
    """A slot mapped in the parent; unmapped when the arrays built on it are gone, never earlier."""

    def __del__(self) -> None:
        with contextlib.suppress(OSError, BufferError):
            self.close()


_mapped: dict[str, shared_memory.SharedMemory] = {}
_mapped_lock = threading.Lock()


def _mapping(name: str) -> shared_memory.SharedMemory:
    with _mapped_lock:
        segment = _mapped.get(name)
        if segment is None:
            segment = _Mapping(name=name)
            with contextlib.suppress(FileNotFoundError):
                segment.unlink()  # the name goes now; the memory stays while mapped here and in the worker
            _mapped[name] = segment
        return segment


def _release(segment: shared_memory.SharedMemory) -> None:
    with contextlib.suppress(ValueError, TypeError):  # a mapping already closed
        _buf(segment)[0] = 0


def loads(body: Any, placement: Placement | None) -> Any:
    """Rebuilds a worker's result; arrays placed in a slot become views of it, freeing it when collected."""
    if placement is None:
        return pickle.loads(body)
    name, layout = placement
    segment = _mapping(name)
    # ctypes views, not numpy ones: numpy collapses chains of array views down to the memory's owner, so
    # only a non-array buffer keeps `region` alive for exactly as long as an array built on it lives.
    region = (ctypes.c_char * (segment.size - _HEADER)).from_buffer(_buf(segment), _HEADER)
    weakref.finalize(region, _release, segment)
    views = [(ctypes.c_char * size).from_buffer(region, offset - _HEADER) for offset, size in layout]
    return pickle.loads(body, buffers=views)


def share_tracker() -> None:
    """Starts this process's resource tracker before workers are forked, so that they register their
    segments with it: a forked worker would otherwise start a tracker of its own, which at the worker's
    exit reports every segment the parent unlinked as leaked ('spawn' and 'forkserver' share it anyway)."""
    resource_tracker.ensure_running()


_watched: dict[int, BaseProcess] = {}


def watch(processes: list[BaseProcess]) -> None:
    """At interpreter exit, ends worker `processes` and removes their segments, if no `close()` did before."""
    if not _watched:
        atexit.register(_end_watched)
    _watched.update({process.pid: process for process in processes if process.pid})


def _end_watched() -> None:
    """Ends the watched workers first: one still running could make a segment after the sweep, which
    multiprocessing's resource tracker would then report as leaked (it runs after this exit hook)."""
    from ._workers import end_process  # here, not at the top: ._workers imports this module

    processes = list(_watched.values())
    for process in processes:
        end_process(process, 0)
    remove_segments_of([process.pid for process in processes if process.pid])


def remove_segments_of(pids: list[int]) -> None:
    """Unlinks the segments that the worker processes `pids` made and nobody unlinked (a dead worker's)."""
    for pid in pids:
        _watched.pop(pid, None)
    with contextlib.suppress(OSError):
        names = os.listdir(_SHM_DIR)
        prefixes = tuple(f"kutils-{pid}-" for pid in pids)
        for name in names:
            if name.startswith(prefixes):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(_SHM_DIR, name))
                    # Gone: the tracker must not report it at exit. Registering first keeps the pair valid
                    # when the worker died before it could register the segment itself.
                    resource_tracker.register(f"/{name}", "shared_memory")
                    resource_tracker.unregister(f"/{name}", "shared_memory")
    with _mapped_lock:
        for name in [name for name in _mapped if name.startswith(tuple(f"kutils-{pid}-" for pid in pids))]:
            segment = _mapped.pop(name)
            with contextlib.suppress(BufferError):  # arrays still use it: unmapped when they go
                segment.close()
