"""Fast row readers for h5py datasets, used by `kutils.HDF5Matrix`.

h5py's fancy indexing needs strictly increasing indices and is slow for random
rows. When a dataset is stored uncompressed, its bytes sit at known offsets in
the file, so a read-only `np.memmap` gives random rows at memory speed:

- contiguous layout: one memmap over the whole dataset (`get_offset()`);
- chunked layout whose chunks span whole rows: the chunk table gives each
  chunk's byte offset, rows are copied from a memmap of the file.

Everything else goes through h5py, reading sorted unique indices and
un-permuting in memory: compressed or filtered data, partial chunks,
unallocated storage, compound or variable-length types, numbers whose HDF5
type is not numpy's byte layout (reduced precision, bit offset), datasets
reached through an external link (stored in another file), and files this
process also has open for writing (their latest writes may sit in HDF5's
caches, not on disk). The memmaps are opened read-only: nothing here can write to the file.
"""

from __future__ import annotations

import math
import os
from typing import Protocol

import h5py
import numpy as np

__all__ = ["RowReader", "open_row_reader"]


class RowReader(Protocol):
    """Reads rows of one dataset; indices are absolute and already in range."""

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Returns the rows `rows` (any order, duplicates allowed), in that order."""

    def read_slice(self, start: int, stop: int, step: int) -> np.ndarray:
        """Returns the rows `range(start, stop, step)` (as `slice.indices` gives them: `step` may be
        negative, and then `stop` may be -1, meaning "down to row 0 included")."""


def _stored_as_numpy_bytes(dataset: h5py.Dataset) -> bool:
    """Whether the stored type is exactly numpy's layout of `dataset.dtype` (no precision/offset bits)."""
    dtype = dataset.dtype
    if dtype.kind not in "biufc" or dtype.fields is not None or dtype.hasobject:
        return False
    return bool(dataset.id.get_type() == h5py.h5t.py_create(dtype, logical=True))


def _has_no_filters(dataset: h5py.Dataset) -> bool:
    plist = dataset.id.get_create_plist()
    return plist.get_nfilters() == 0 and plist.get_external_count() == 0


class _H5pyReader:
    """Generic reader: h5py reads of sorted unique indices, un-permuted in memory."""

    def __init__(self, dataset: h5py.Dataset) -> None:
        self._dataset = dataset

    def take(self, rows: np.ndarray) -> np.ndarray:
        if rows.size == 0:
            return np.empty((0, *self._dataset.shape[1:]), dtype=self._dataset.dtype)
        unique, inverse = np.unique(rows, return_inverse=True)
        block = self._dataset[unique]
        if unique.size == rows.size and np.array_equal(unique, rows):
            return np.asarray(block)
        return np.asarray(block[inverse.reshape(-1)])

    def read_slice(self, start: int, stop: int, step: int) -> np.ndarray:
        if step > 0:
            return np.asarray(self._dataset[start:stop:step])
        count = len(range(start, stop, step))
        if count == 0:
            return np.empty((0, *self._dataset.shape[1:]), dtype=self._dataset.dtype)
        lowest = start + (count - 1) * step
        return np.asarray(self._dataset[lowest : start + 1 : -step])[::-1].copy()


class _ContiguousMemmapReader:
    """Contiguous uncompressed dataset: numpy indexing on a read-only memmap."""

    def __init__(self, path: str, dataset: h5py.Dataset, offset: int) -> None:
        self._array = np.memmap(path, dtype=dataset.dtype, mode="r", offset=offset, shape=dataset.shape)

    def take(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self._array[rows])

    def read_slice(self, start: int, stop: int, step: int) -> np.ndarray:
        return np.array(self._array[start : stop if stop >= 0 else None : step])


class _ChunkMemmapReader(_H5pyReader):
    """Chunked uncompressed dataset, chunks spanning whole rows: rows copied from a file memmap."""

    def __init__(self, path: str, dataset: h5py.Dataset, chunk_offsets: np.ndarray) -> None:
        super().__init__(dataset)
        self._file_bytes = np.memmap(path, dtype=np.uint8, mode="r")
        self._chunk_rows = dataset.chunks[0]
        self._row_shape = dataset.shape[1:]
        self._dtype = dataset.dtype
        self._row_bytes = int(math.prod(self._row_shape)) * dataset.dtype.itemsize
        self._chunk_offsets = chunk_offsets

    def take(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((rows.size, *self._row_shape), dtype=self._dtype)
        out_bytes = out.view(np.uint8).reshape(rows.size, self._row_bytes)
        starts = self._chunk_offsets[rows // self._chunk_rows] + (rows % self._chunk_rows) * self._row_bytes
        size = self._row_bytes
        for position, start in enumerate(starts.tolist()):
            out_bytes[position] = self._file_bytes[start : start + size]
        return out


def _chunk_offsets(dataset: h5py.Dataset) -> np.ndarray | None:
    """Byte offset of each row-chunk in the file, or None if any chunk is missing or filtered."""
    chunk_rows = dataset.chunks[0]
    expected = math.ceil(dataset.shape[0] / chunk_rows)
    offsets = np.full(expected, -1, dtype=np.int64)
    complete = True

    def record(info: h5py.h5d.StoreInfo) -> None:
        nonlocal complete
        if info.filter_mask != 0:
            complete = False
        offsets[info.chunk_offset[0] // chunk_rows] = info.byte_offset

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


def open_row_reader(path: str, dataset: h5py.Dataset) -> RowReader:
    """Picks the fastest safe reader for `dataset` of the file at `path`.

    Args:
        path: The file's path, used to memory-map uncompressed data read-only.
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
            return _ContiguousMemmapReader(path, dataset, offset)
    if plain and dataset.chunks is not None and tuple(dataset.chunks[1:]) == tuple(dataset.shape[1:]):
        offsets = _chunk_offsets(dataset)
        if offsets is not None:
            return _ChunkMemmapReader(path, dataset, offsets)
    return _H5pyReader(dataset)
