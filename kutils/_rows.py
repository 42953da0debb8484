"""The one row-reading helper: rows of an array-like in any order, read as storage likes them.

h5py (and HDF5 under it) needs strictly increasing indices, reads a run of
consecutive rows far faster than the same rows one by one, and decompresses a
whole chunk for any row of it. Every reader in kutils (`HDF5Matrix`,
`ArraySequence`, `distributed_fit`) therefore asks for rows the same way:

1. `take_rows(rows, read_sorted)`: the caller's rows (any order, repeats)
   are sorted and de-duplicated, `read_sorted` reads those once, in
   increasing order, and the caller's order (and repeats) are restored in
   memory.
2. `chunk_runs(sorted_rows, chunk_rows)`: sorted rows grouped by the chunk
   that holds them, so that a chunk-aware reader touches each chunk once.
3. `read_rows(array, rows)` / `read_range(array, start, stop)`: the entry
   point for any array-like: numpy indexing for in-memory arrays, the fastest
   safe reader (`kutils._h5read.open_row_reader`) for h5py datasets, and the
   array's own indexing for `HDF5Matrix` (which uses 1. and 2. itself).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["chunk_runs", "read_range", "read_ranges", "read_rows", "take_rows"]


def take_rows(rows: np.ndarray, read_sorted: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Rows `rows` (any order, repeats allowed) from `read_sorted`, in the caller's order.

    Args:
        rows: 1-D integer array of row indices, already in range.
        read_sorted: Reads strictly increasing row indices and returns those
            rows in that order.

    Returns:
        `len(rows)` rows, row `i` being row `rows[i]`.
    """
    rows = np.asarray(rows, dtype=np.intp).reshape(-1)
    if rows.size == 0:
        return read_sorted(rows)
    if rows.size == 1 or bool(np.all(rows[1:] > rows[:-1])):
        return read_sorted(rows)
    unique, inverse = np.unique(rows, return_inverse=True)
    return np.asarray(read_sorted(unique))[inverse.reshape(-1)]


def chunk_runs(sorted_rows: np.ndarray, chunk_rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """Groups strictly increasing rows by chunk: yields `(chunk index, rows of that chunk)`.

    Args:
        sorted_rows: Strictly increasing row indices.
        chunk_rows: Rows per chunk (the chunk shape's first dimension).

    Yields:
        Each touched chunk once, in increasing order, with its rows.
    """
    chunks = sorted_rows // chunk_rows
    if chunks.size == 0:
        return
    edges = np.flatnonzero(chunks[1:] != chunks[:-1]) + 1
    for group in np.split(sorted_rows, edges):
        yield int(group[0]) // chunk_rows, group


def _consecutive(sorted_rows: np.ndarray) -> bool:
    return sorted_rows.size > 0 and int(sorted_rows[-1]) - int(sorted_rows[0]) == sorted_rows.size - 1


# One row reader per h5py dataset object passed in by a caller (ArraySequence given raw h5py datasets).
_H5PY_READERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _h5py_reader(dataset: Any) -> Any:
    from ._h5read import open_row_reader

    reader = _H5PY_READERS.get(dataset)
    if reader is None:
        reader = open_row_reader(dataset.file.filename, dataset)
        _H5PY_READERS[dataset] = reader
    return reader


def _is_h5py_dataset(array: Any) -> bool:
    return type(array).__module__.startswith("h5py") and hasattr(array, "id") and hasattr(array, "file")


def read_rows(array: Any, rows: np.ndarray) -> np.ndarray:
    """`array[rows]` as a numpy array, for any array-like, with rows in any order and repeated.

    Args:
        array: A numpy array or memmap, an `HDF5Matrix`, an h5py dataset, or
            any object indexable by a sorted integer array (`len`, `[]`).
        rows: 1-D integer array of row indices in `range(len(array))`.

    Returns:
        The rows, in the order of `rows`.
    """
    rows = np.asarray(rows, dtype=np.intp).reshape(-1)
    if isinstance(array, np.ndarray):
        return np.asarray(array[rows])
    if _is_h5py_dataset(array):
        return np.asarray(_h5py_reader(array).take(rows))
    if hasattr(array, "_take"):  # HDF5Matrix: its reader applies this helper itself
        return np.asarray(array[rows])

    def read_sorted(unique: np.ndarray) -> np.ndarray:
        if _consecutive(unique):
            return np.asarray(array[int(unique[0]) : int(unique[-1]) + 1])
        if unique.size == 0:
            return np.asarray(array[0:0])
        return np.asarray(array[unique])

    return take_rows(rows, read_sorted)


def read_range(array: Any, start: int, stop: int) -> np.ndarray:
    """`array[start:stop]` as a numpy array (h5py datasets through the fastest safe reader).

    Args:
        array: As for `read_rows`.
        start: First row.
        stop: End row (excluded), `start <= stop <= len(array)`.

    Returns:
        The rows `start:stop`.
    """
    if _is_h5py_dataset(array):
        return np.asarray(_h5py_reader(array).read_slice(start, stop, 1))
    return np.asarray(array[start:stop])


def read_ranges(array: Any, ranges: list[tuple[int, int]]) -> list[np.ndarray]:
    """`[array[start:stop] for start, stop in ranges]`, compressed HDF5 chunks decoded in parallel.

    Args:
        array: As for `read_rows`.
        ranges: `(start, stop)` pairs, `0 <= start <= stop <= len(array)`.

    Returns:
        One array per range.
    """
    if _is_h5py_dataset(array):
        reader, shift, normalized = _h5py_reader(array), 0, None
    elif hasattr(array, "_take") and hasattr(array, "_ensure_open"):  # HDF5Matrix: a window of its dataset
        reader, shift, normalized = array._ensure_open()[1], array.start, array._normalized
    else:
        return [read_range(array, start, stop) for start, stop in ranges]
    read = getattr(reader, "read_ranges", None)
    shifted = [(start + shift, stop + shift) for start, stop in ranges]
    blocks = read(shifted) if read else [reader.read_slice(start, stop, 1) for start, stop in shifted]
    return [np.asarray(normalized(block)) if normalized else np.asarray(block) for block in blocks]
