"""Fast row readers for h5py datasets, used by `kutils.HDF5Matrix`.

h5py's fancy indexing needs strictly increasing indices and is slow for random
rows. When a dataset is stored uncompressed, its bytes sit at known offsets in
the file, so its rows are read straight from the file with `os.preadv` (one
call per run of rows that follow each other in the file):

- contiguous layout: the dataset's offset (`get_offset()`) plus the row's;
- chunked layout whose chunks span whole rows: the chunk table gives each
  chunk's byte offset.

A chunked dataset whose chunks span whole rows and whose filters are all
known (gzip, lzf, shuffle, blosc, zstd) has its chunks read raw and decoded in
parallel (`kutils._h5chunks`). Everything else goes through h5py, reading sorted unique indices and
un-permuting in memory: other filters, chunks that split rows,
unallocated storage, compound or variable-length types, numbers whose HDF5
type is not numpy's byte layout (reduced precision, bit offset), datasets
reached through an external link (stored in another file), and files this
process also has open for writing (their latest writes may sit in HDF5's
caches, not on disk). The file is opened read-only: nothing here can write to it.

Another program may truncate or rewrite the file while it is open here (a
failed `h5py.File(path, 'w')` truncates it to 0 bytes even with HDF5 file
locking on). So the readers keep a descriptor of the file (`_FileGuard`):
every read first compares its size and modification time with those seen at
open and raises `HDF5FormatError` if they changed, and a `preadv` that comes
back short (the file was truncated during the read) raises it too. No memory
map is used: touching a mapped page past the new end of the file would kill the
process with SIGBUS, and no check made before a copy can rule out a truncation
during it.
"""

from __future__ import annotations

import itertools
import math
import os
import weakref
from typing import Protocol

import h5py
import numpy as np

from ._h5chunks import ChunkDecodeReader, chunk_decoders
from ._rows import take_rows
from .errors import HDF5FormatError

__all__ = ["RowReader", "open_row_reader"]

# Runs this long on average (slices, clustered rows) are read straight into the result.
_LONG_RUN_BYTES = 64 << 10


class RowReader(Protocol):
    """Reads rows of one dataset; indices are absolute and already in range."""

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Returns the rows `rows` (any order, duplicates allowed), in that order."""
        ...

    def read_slice(self, start: int, stop: int, step: int) -> np.ndarray:
        """Returns the rows `range(start, stop, step)` (as `slice.indices` gives them: `step` may be
        negative, and then `stop` may be -1, meaning "down to row 0 included")."""
        ...


def _stored_as_numpy_bytes(dataset: h5py.Dataset) -> bool:
    """Whether the stored type is exactly numpy's layout of `dataset.dtype` (no precision/offset bits)."""
    dtype = dataset.dtype
    if dtype.kind not in "biufc" or dtype.fields is not None or dtype.hasobject:
        return False
    return bool(dataset.id.get_type() == h5py.h5t.py_create(dtype, logical=True))


def _has_no_filters(dataset: h5py.Dataset) -> bool:
    plist = dataset.id.get_create_plist()
    return bool(plist.get_nfilters() == 0 and plist.get_external_count() == 0)


class _H5pyReader:
    """Generic reader: h5py reads of sorted unique indices, un-permuted in memory."""

    def __init__(self, dataset: h5py.Dataset) -> None:
        self._dataset = dataset

    def take(self, rows: np.ndarray) -> np.ndarray:
        return take_rows(rows, self._read_sorted)

    def _read_sorted(self, rows: np.ndarray) -> np.ndarray:
        if rows.size == 0:
            return np.empty((0, *self._dataset.shape[1:]), dtype=self._dataset.dtype)
        if int(rows[-1]) - int(rows[0]) == rows.size - 1:
            return np.asarray(self._dataset[int(rows[0]) : int(rows[-1]) + 1])
        return np.asarray(self._dataset[rows])

    def read_slice(self, start: int, stop: int, step: int) -> np.ndarray:
        if step > 0:
            return np.asarray(self._dataset[start:stop:step])
        count = len(range(start, stop, step))
        if count == 0:
            return np.empty((0, *self._dataset.shape[1:]), dtype=self._dataset.dtype)
        lowest = start + (count - 1) * step
        return np.asarray(self._dataset[lowest : start + 1 : -step])[::-1].copy()


class _FileGuard:
    """A read-only descriptor of the file that notices truncation or rewriting by another program."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
        weakref.finalize(self, os.close, self.fd)
        self._seen = self._signature()

    def _signature(self) -> tuple[int, int]:
        status = os.fstat(self.fd)
        return status.st_size, status.st_mtime_ns

    def check(self) -> None:
        """Raises HDF5FormatError if the file's size or modification time changed since it was opened."""
        now = self._signature()
        if now != self._seen:
            raise HDF5FormatError(
                f"HDF5Matrix: {self.path!r} was changed by another program while open here (size "
                f"{self._seen[0]} -> {now[0]} bytes, modification time changed: {now[1] != self._seen[1]}): "
                "it was truncated or rewritten. Reading it further would return other data. Create the "
                "HDF5Matrix again once the file is complete."
            )

    def short_read(self, offset: int, wanted: int, got: int) -> HDF5FormatError:
        return HDF5FormatError(
            f"HDF5Matrix: {self.path!r} ends before the data it describes ({got} of {wanted} bytes at "
            f"offset {offset}): it was truncated. Restore a complete copy of the file."
        )

    def read_into(self, buffer: memoryview, offset: int) -> None:
        """Fills `buffer` with the file's bytes at `offset`; HDF5FormatError if the file ends first."""
        got = os.preadv(self.fd, [buffer], offset)
        if got != buffer.nbytes:
            raise self.short_read(offset, buffer.nbytes, got)


def _read_rows_at(guard: _FileGuard, out: np.ndarray, starts: np.ndarray, row_bytes: int) -> np.ndarray:
    """Fills row `i` of the new C-contiguous `out` with the `row_bytes` bytes at file offset `starts[i]`.

    Rows that follow each other both in the file and in `out` are read as one
    run. Long runs (slices) are read straight into `out` with `preadv`; many
    short ones (random rows) by `os.pread` mapped over the offsets, which runs
    the loop in C (about 1.5x faster than a Python loop of `preadv` calls here),
    then copied into `out`. A read that comes back short raises `HDF5FormatError`.
    """
    if out.size == 0:
        return out
    breaks = np.flatnonzero(np.diff(starts) != row_bytes) + 1
    firsts = np.concatenate(([0], breaks))
    sizes = np.diff(np.concatenate((firsts, [len(starts)]))) * row_bytes
    flat = out.data.cast("B")
    if out.nbytes >= _LONG_RUN_BYTES * len(firsts):
        position = 0
        for offset, size in zip(starts[firsts].tolist(), sizes.tolist(), strict=True):
            guard.read_into(flat[position : position + size], offset)
            position += size
        return out
    count = len(firsts)
    data = b"".join(map(os.pread, itertools.repeat(guard.fd, count), sizes.tolist(), starts[firsts].tolist()))
    if len(data) != out.nbytes:
        raise guard.short_read(int(starts[0]), out.nbytes, len(data))
    flat[:] = data
    return out


class _ContiguousReader:
    """Contiguous uncompressed dataset: rows read at the dataset's offset in the file (`preadv`)."""

    def __init__(self, path: str, dataset: h5py.Dataset, offset: int) -> None:
        self._guard = _FileGuard(path)
        self._offset = offset
        self._row_shape = dataset.shape[1:]
        self._dtype = dataset.dtype
        self._row_bytes = int(math.prod(self._row_shape)) * dataset.dtype.itemsize

    def take(self, rows: np.ndarray) -> np.ndarray:
        self._guard.check()
        out = np.empty((rows.size, *self._row_shape), dtype=self._dtype)
        starts = self._offset + rows.astype(np.int64) * self._row_bytes
        return _read_rows_at(self._guard, out, starts, self._row_bytes)

    def read_slice(self, start: int, stop: int, step: int) -> np.ndarray:
        return self.take(np.arange(start, stop, step))  # a slice of step 1 is one run: one preadv


class _ChunkRowReader(_H5pyReader):
    """Chunked uncompressed dataset, chunks spanning whole rows: rows read at their offsets (`preadv`)."""

    def __init__(self, path: str, dataset: h5py.Dataset, chunk_offsets: np.ndarray) -> None:
        super().__init__(dataset)
        self._guard = _FileGuard(path)
        self._chunk_rows = dataset.chunks[0]
        self._row_shape = dataset.shape[1:]
        self._dtype = dataset.dtype
        self._row_bytes = int(math.prod(self._row_shape)) * dataset.dtype.itemsize
        self._chunk_offsets = chunk_offsets

    def read_slice(self, start: int, stop: int, step: int) -> np.ndarray:
        self._guard.check()  # h5py would answer from its chunk cache as if nothing happened
        return super().read_slice(start, stop, step)

    def take(self, rows: np.ndarray) -> np.ndarray:
        self._guard.check()
        out = np.empty((rows.size, *self._row_shape), dtype=self._dtype)
        starts = self._chunk_offsets[rows // self._chunk_rows] + (rows % self._chunk_rows) * self._row_bytes
        return _read_rows_at(self._guard, out, starts, self._row_bytes)


def _chunk_offsets(dataset: h5py.Dataset) -> np.ndarray | None:
    """Byte offset of each row-chunk in the file, or None if any chunk is missing or filtered."""
    chunk_rows = dataset.chunks[0]
    expected = math.ceil(dataset.shape[0] / chunk_rows)
    offsets = np.full(expected, -1, dtype=np.int64)
    complete = True

    def record(info: h5py.h5d.StoreInfo) -> None:
        nonlocal complete
        position = info.chunk_offset[0] // chunk_rows
        if info.filter_mask != 0 or not 0 <= position < expected:  # filtered, or a damaged chunk index
            complete = False
        else:
            offsets[position] = info.byte_offset

    try:
        dataset.id.chunk_iter(record)
    except (AttributeError, RuntimeError):  # HDF5 older than 1.12.3: no chunk iteration
        return None
    if not complete or (offsets < 0).any():
        return None
    return offsets


def _only_read_in_this_process(dataset: h5py.Dataset) -> bool:
    """False when this process also has the file open for writing: HDF5 then shares one handle with
    the writer, and data it holds in its caches is not on disk yet."""
    return not dataset.file.id.get_intent() & h5py.h5f.ACC_RDWR


def _stored_in(path: str, dataset: h5py.Dataset) -> bool:
    """Whether `dataset`'s bytes are in the file at `path` (not in a file an external link points to)."""
    try:
        return os.path.samefile(dataset.file.filename, path)
    except (OSError, ValueError):
        return False


def _check_within_file(path: str, dataset: h5py.Dataset, end: int) -> None:
    """HDF5FormatError if the dataset's bytes run past the end of the file (truncated or damaged)."""
    size = os.path.getsize(path)
    if end > size:
        raise HDF5FormatError(
            f"HDF5Matrix: the data of {dataset.name!r} runs to byte {end} but {path!r} has only {size} "
            "bytes: the file is truncated or damaged. Restore a complete copy."
        )


def open_row_reader(path: str, dataset: h5py.Dataset) -> RowReader:
    """Picks the fastest safe reader for `dataset` of the file at `path`.

    Args:
        path: The file's path, opened read-only to read uncompressed data directly.
        dataset: The open dataset (rank >= 1).

    Returns:
        A `RowReader`.
    """
    plain = (
        dataset.size > 0
        and _stored_as_numpy_bytes(dataset)
        and _has_no_filters(dataset)
        and _stored_in(path, dataset)
        and _only_read_in_this_process(dataset)
    )
    if plain and dataset.chunks is None:
        offset = dataset.id.get_offset()
        if offset is not None and dataset.id.get_storage_size() >= dataset.nbytes:
            _check_within_file(path, dataset, offset + dataset.nbytes)
            return _ContiguousReader(path, dataset, offset)
    whole_rows = dataset.chunks is not None and tuple(dataset.chunks[1:]) == tuple(dataset.shape[1:])
    if plain and whole_rows:
        offsets = _chunk_offsets(dataset)
        if offsets is not None:
            chunk_bytes = int(math.prod(dataset.chunks or ())) * dataset.dtype.itemsize  # chunked: whole_rows
            _check_within_file(path, dataset, int(offsets.max()) + chunk_bytes)
            return _ChunkRowReader(path, dataset, offsets)
    decodable = (
        whole_rows
        and dataset.size > 0
        and _stored_as_numpy_bytes(dataset)
        and dataset.id.get_create_plist().get_external_count() == 0
        and _stored_in(path, dataset)
        and _only_read_in_this_process(dataset)
    )
    decoders = chunk_decoders(dataset) if decodable else None
    if decoders is not None:
        return ChunkDecodeReader(dataset, decoders)
    return _H5pyReader(dataset)
