"""The file being downloaded by `get_file`: written, hashed on a helper thread, sized ahead.

`kutils._transfer` fills a `Sink` from the HTTP body (or a local file). The
bytes go straight into a few reused buffers; a helper thread hashes each filled
buffer while the calling thread writes it and reads the next one. The docs
page `docs/get_file.md` (Performance) gives the measured figures.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Sink"]

# Reused download buffers (filled, being written or waiting to be hashed), at most, and the most
# bytes one read asks for (each buffer is as large as the read size when it was made: a small file
# never costs 4 MiB).
_BUFFERS = 4
_BUFFER_BYTES = 4 << 20
# One read asks for this many bytes at first; a read faster than _FAST_READ_SECONDS doubles it (up to
# _BUFFER_BYTES: fewer thread hand-overs, about 1.3x the loopback speed of 1 MiB reads), a read slower
# than _SLOW_READ_SECONDS halves it (down to _FIRST_READ_BYTES), so that on a slow link the progress
# bar still moves and a broken connection loses little.
_FIRST_READ_BYTES = 256 << 10
_FAST_READ_SECONDS = 0.05
_SLOW_READ_SECONDS = 0.5


class Sink:
    """The temporary file being downloaded, its size, and its hash computed on a helper thread.

    Bytes are read straight into a few reused buffers (no allocation or copy
    per chunk). The helper thread hashes a filled buffer while the calling
    thread writes it to the file and reads the next one (`hashlib` releases
    the GIL on large buffers), then hands the buffer back: hashing costs no
    extra pass and little extra time.
    """

    def __init__(self, descriptor: int, algorithm: str) -> None:
        self.descriptor = descriptor
        self.algorithm = algorithm
        self.size = 0
        self._free: queue.Queue[bytearray] = queue.Queue()
        self._buffers = 0
        self._read_bytes = _FIRST_READ_BYTES
        self._start_hashing()

    def fill(self, read_into: Callable[[memoryview], int]) -> int:
        """Appends the bytes `read_into(buffer)` reads to the file and the hash; returns their count.

        Returns 0 at the end of the body. What `read_into` read before raising
        is lost, so `size` only ever counts bytes that are in the file.
        """
        buffer = self._take_buffer()
        started = time.monotonic()
        try:
            count = read_into(memoryview(buffer)[: self._read_bytes])
        except BaseException:
            self._free.put(buffer)
            raise
        self._adapt_read_size(time.monotonic() - started)
        if not count:
            self._free.put(buffer)
            return 0
        self._filled.put((buffer, count))  # the hashing thread only reads it, then gives it back
        view = memoryview(buffer)[:count]
        while view:
            view = view[os.write(self.descriptor, view) :]
        self.size += count
        return count

    def reserve(self, total: int) -> None:
        """Allocates the disk space of a `total`-byte file before the bytes arrive.

        Writes into allocated blocks are faster (about 1.7x over loopback on
        the development machine), and a disk too small for the file fails
        here, before any byte is received. The file's length becomes `total`;
        `trim()` cuts it back to the bytes written. Where the OS or the file
        system cannot allocate ahead, the writes allocate as they go.
        """
        if total > self.size and hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(self.descriptor, self.size, total - self.size)
            except OSError as error:
                if error.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise

    def trim(self) -> None:
        """Cuts the file back to the bytes written, dropping space `reserve()` allocated beyond them."""
        if os.fstat(self.descriptor).st_size != self.size:
            os.ftruncate(self.descriptor, self.size)

    def hexdigest(self) -> str:
        """The hash of everything written; writing again needs `restart()`."""
        self._stop_hashing()
        return self._hasher.hexdigest()

    def restart(self) -> None:
        """Empties the file and the hash."""
        self._stop_hashing()
        os.ftruncate(self.descriptor, 0)
        os.lseek(self.descriptor, 0, os.SEEK_SET)
        self.size = 0
        self._start_hashing()

    def close(self) -> None:
        """Stops the hashing thread (the file descriptor stays open)."""
        self._stop_hashing()

    def _adapt_read_size(self, seconds: float) -> None:
        if seconds < _FAST_READ_SECONDS:
            self._read_bytes = min(2 * self._read_bytes, _BUFFER_BYTES)
        elif seconds > _SLOW_READ_SECONDS:
            self._read_bytes = max(self._read_bytes // 2, _FIRST_READ_BYTES)

    def _take_buffer(self) -> bytearray:
        """A free buffer of at least the read size (a larger one replaces a free buffer that is smaller);
        a new one while fewer than `_BUFFERS` exist, else waits for the hashing thread."""
        try:
            buffer = self._free.get_nowait()
        except queue.Empty:
            if self._buffers < _BUFFERS:
                self._buffers += 1
                return bytearray(self._read_bytes)
            buffer = self._free.get()
        return buffer if len(buffer) >= self._read_bytes else bytearray(self._read_bytes)

    def _start_hashing(self) -> None:
        self._hasher = hashlib.new(self.algorithm)
        self._filled: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
        self._thread = threading.Thread(
            target=_hash_buffers,
            args=(self._hasher, self._filled, self._free),
            name="kutils-get_file-hash",
            daemon=True,
        )
        self._thread.start()

    def _stop_hashing(self) -> None:
        if self._thread.is_alive():
            self._filled.put(None)
            self._thread.join()


def _hash_buffers(
    hasher: Any, filled: queue.Queue[tuple[bytearray, int] | None], free: queue.Queue[bytearray]
) -> None:
    """Hashes each `(buffer, count)` handed over, then returns the buffer to `free`."""
    while (item := filled.get()) is not None:
        buffer, count = item
        hasher.update(memoryview(buffer)[:count])
        free.put(buffer)
