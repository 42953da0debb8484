"""How worker processes send results to their parent: length-prefixed frames on a pipe.

Each result is one frame: a small header pickled from builtins only (kind,
task key, type name, message, traceback text) and a body (the pickled value
or exception). Large numpy arrays of a value travel through shared memory
(`kutils._shm`): the body is then the rest of the pickle, and the header says
where the arrays are. The parent reads its end of the pipe without blocking and
hands over only complete frames, so a worker killed in the middle of a
multi-MB frame leaves a partial frame that is dropped, instead of a read that
waits forever for bytes nobody will write. Because the header never needs
user classes, a body that cannot be unpickled in the parent still yields an
error naming the original type, message and worker traceback.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import sys
import traceback
from typing import Any

from ._shm import dumps as shm_dumps
from ._shm import loads as shm_loads
from .errors import RemoteTraceback, WorkerError

__all__ = [
    "FrameReader",
    "RemoteTraceback",
    "decode",
    "send_done",
    "send_error",
    "send_value",
    "widen_pipe",
    "with_remote_traceback",
]

_LENGTHS = struct.Struct("!QQ")
_PIPE_BYTES = 1 << 20  # fewer wake-ups for multi-MB batches; the kernel may refuse (then 64 KiB)


def with_remote_traceback(error: BaseException, text: str) -> BaseException:
    """Attaches a worker's formatted traceback to `error` as its `__cause__`."""
    error.__cause__ = RemoteTraceback(text)
    return error


def widen_pipe(fd: int) -> None:
    """Asks the kernel for a 1 MiB pipe buffer (Linux); keeps the default elsewhere or if refused."""
    if sys.platform == "linux":
        import fcntl

        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_frame(fd: int, header: tuple[Any, ...], body: bytes) -> None:
    head = pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL)
    _write_all(fd, _LENGTHS.pack(len(head), len(body)) + head)
    _write_all(fd, body)


def _type_name(value: object) -> str:
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def send_value(fd: int, key: Any, value: Any) -> None:
    """Writes `value` (computed for task `key`) as one frame; an unpicklable value is sent as a TypeError."""
    try:
        body, placement = shm_dumps(value)
    except Exception as error:
        problem = TypeError(
            f"a worker process produced a {_type_name(value)} that cannot be pickled to send it to the "
            f"parent ({type(error).__name__}: {error}); return numpy arrays, tuples, lists or dicts of them."
        )
        send_error(fd, key, problem, "".join(traceback.format_exception(error)))
        return
    _write_frame(fd, ("value", key, _type_name(value), placement), body)


def send_error(fd: int, key: Any, error: BaseException, text: str | None = None) -> None:
    """Writes `error` (raised for task `key`) with its type name, message and formatted traceback."""
    if text is None:
        text = "".join(traceback.format_exception(error))
    try:
        body = pickle.dumps(error, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        body = b""
    _write_frame(fd, ("error", key, _type_name(error), str(error), text), body)


def send_done(fd: int, key: Any) -> None:
    """Writes the frame that says the worker for `key` has nothing more to send."""
    _write_frame(fd, ("done", key), b"")


def decode(header: tuple[Any, ...], body: memoryview, worker: str) -> tuple[str, Any, Any]:
    """Rebuilds a frame as `(kind, key, payload)`: kind 'value', 'error' (payload: an exception) or 'done'.

    A body that cannot be unpickled here becomes a `kutils.errors.WorkerError`
    carrying what the header says (type name, message, worker traceback).
    """
    kind, key = header[0], header[1]
    if kind == "done":
        return kind, key, None
    if kind == "value":
        try:
            return kind, key, shm_loads(body, header[3])
        except BaseException as error:
            problem = WorkerError(
                f"{worker} computed a {header[2]} for task {key!r}, but it cannot be unpickled in this "
                f"process ({type(error).__name__}: {error}). Make its class importable here (defined at "
                "module level, not in __main__ of another script) and its pickled state complete.",
                type_name=header[2],
            )
            problem.__cause__ = error
            return "error", key, problem
    type_name, message, text = header[2], header[3], header[4]
    try:
        rebuilt = pickle.loads(body) if body else None
    except BaseException as error:
        rebuilt, why = None, f"{type(error).__name__}: {error}"
    else:
        why = "it does not pickle"
    if not isinstance(rebuilt, BaseException):
        rebuilt = WorkerError(
            f"{type_name}: {message}\n({worker} raised it; it could not be rebuilt in this process: {why}. "
            "Give the exception class an __init__ that accepts its args, or a __reduce__.)",
            type_name=type_name,
            worker_traceback=text,
        )
    return "error", key, with_remote_traceback(rebuilt, text)


class FrameReader:
    """Non-blocking reader of the frames on a pipe's read end (kept open by `connection`)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self._fd = connection.fileno()
        os.set_blocking(self._fd, False)
        self._prefix = b""
        self._frame: bytearray | None = None
        self._head_length = 0
        self._filled = 0
        self.eof = False

    def fileno(self) -> int:
        return int(self._fd)

    def read_ready(self) -> list[tuple[tuple[Any, ...], memoryview]]:
        """Reads all the pipe holds now; returns the complete frames as (header, body). Sets `eof`."""
        frames: list[tuple[tuple[Any, ...], memoryview]] = []
        while not self.eof:
            try:
                if self._frame is None:
                    chunk = os.read(self._fd, _LENGTHS.size - len(self._prefix))
                    self.eof = not chunk
                    self._prefix += chunk
                    if len(self._prefix) == _LENGTHS.size:
                        self._head_length, body_length = _LENGTHS.unpack(self._prefix)
                        self._frame, self._filled = bytearray(self._head_length + body_length), 0
                else:
                    count = os.readv(self._fd, [memoryview(self._frame)[self._filled :]])
                    self.eof = count == 0
                    self._filled += count
            except BlockingIOError:
                return frames
            if self._frame is not None and self._filled == len(self._frame):
                view = memoryview(self._frame)
                frames.append((pickle.loads(view[: self._head_length]), view[self._head_length :]))
                self._prefix, self._frame = b"", None
        return frames

    def close(self) -> None:
        self.connection.close()
