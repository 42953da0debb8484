"""The chunk-aware shuffle of `ArraySequence(shuffle='chunks')`.

A full shuffle of a compressed HDF5 dataset decompresses a whole chunk for
almost every row of every batch. Here each epoch's order is random at two
levels, and every chunk is read (and decompressed) once per epoch:

1. the blocks of rows that match the file's chunks are put in a random order;
2. consecutive blocks are grouped into windows of K blocks, and the rows of
   each window are put in a random order; batches are cut from that order.

A window is read once, as one read of its K blocks (their compressed chunks
decoded in parallel, `kutils._h5chunks`), while the next window is read ahead
on a background thread. Blocks stay separate arrays (one window-sized array
would be fresh memory for every window, and the page faults of fresh memory
cost as much as the reading); a batch gathers its rows block by block.

K comes from a memory budget: at most three windows (the previous one, for
batches still being read, the current one and the one read ahead) of all
arrays' rows are held, and one window's worth is left for the batches and
the chunks being decoded.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from ._rows import read_ranges

__all__ = ["ChunkWindows", "chunk_layout", "is_compressed", "make_windows"]

_WINDOWS_HELD = 3
# Budget shares: the windows held, and one more window's worth for batches and chunks being decoded.
_BUDGET_SHARES = _WINDOWS_HELD + 1


def _h5py_dataset(leaf: Any) -> Any:
    """The h5py dataset behind `leaf` (an h5py dataset or an `HDF5Matrix`), or None."""
    if type(leaf).__module__.startswith("h5py") and hasattr(leaf, "chunks"):
        return leaf
    if hasattr(leaf, "_take") and hasattr(leaf, "data"):
        return leaf.data
    return None


def chunk_layout(leaf: Any) -> tuple[int, int] | None:
    """`(rows per chunk, chunk offset of the leaf's row 0)` of a chunked HDF5 leaf, else None."""
    dataset = _h5py_dataset(leaf)
    if dataset is None or dataset.chunks is None:
        return None
    chunk_rows = int(dataset.chunks[0])
    return chunk_rows, int(getattr(leaf, "start", 0)) % chunk_rows


def is_compressed(leaf: Any) -> bool:
    """Whether `leaf` is a chunked HDF5 dataset (or `HDF5Matrix`) stored through filters."""
    dataset = _h5py_dataset(leaf)
    return dataset is not None and dataset.chunks is not None and bool(dataset.compression or dataset.shuffle)


def _block_range(block: int, block_rows: int, offset: int, num_rows: int) -> tuple[int, int]:
    """Rows of block `block`: `[block*B - offset, (block+1)*B - offset)`, clipped to the arrays."""
    return max(0, block * block_rows - offset), min(num_rows, (block + 1) * block_rows - offset)


class ChunkWindows:
    """One epoch's chunk-aware order, and the windows of rows read for it (see the module doc).

    It pickles with its order and without what it has read (a worker process
    reads its own windows).

    Args:
        num_rows: Rows per array.
        block_rows: Rows per block (the file's chunk rows).
        offset: Where row 0 sits in its block.
        blocks_per_window: K, blocks per window.
        rng: Random generator of the orders.
    """

    def __init__(
        self, num_rows: int, block_rows: int, offset: int, blocks_per_window: int, rng: np.random.Generator
    ) -> None:
        self._num_rows = num_rows
        self._block_rows = block_rows
        self._offset = offset
        self.blocks_per_window = blocks_per_window
        self._rng = rng
        self._lock = threading.Lock()
        self._reader: ThreadPoolExecutor | None = None
        self._reader_pid = -1
        self._loads: dict[int, Future[list[list[np.ndarray]]]] = {}
        self.order = np.arange(0)
        self._windows: list[np.ndarray] = []  # sorted block numbers of each window
        self._ends = np.zeros(0, dtype=np.int64)
        self.reshuffle()

    def reshuffle(self) -> None:
        """Draws the next epoch's order and forgets the windows read."""
        blocks = math.ceil((self._num_rows + self._offset) / self._block_rows)
        permuted = self._rng.permutation(blocks)
        windows = [
            np.sort(permuted[i : i + self.blocks_per_window])
            for i in range(0, blocks, self.blocks_per_window)
        ]
        rows = [np.concatenate([np.arange(*self._range(block)) for block in window]) for window in windows]
        with self._lock:
            self._windows = windows
            self._ends = np.cumsum([part.size for part in rows], dtype=np.int64)
            self.order = np.concatenate([self._rng.permutation(part) for part in rows])
            self._loads.clear()

    def _range(self, block: int) -> tuple[int, int]:
        return _block_range(int(block), self._block_rows, self._offset, self._num_rows)

    def _pool(self) -> ThreadPoolExecutor:
        if self._reader is None or self._reader_pid != os.getpid():  # threads do not survive a fork
            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kutils.chunk-window")
            self._reader_pid = os.getpid()
        return self._reader

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for transient in ("_lock", "_reader", "_loads"):
            state.pop(transient)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._reader, self._reader_pid, self._loads = None, -1, {}

    def _load(self, window: int, leaves: list[Any]) -> Future[list[list[np.ndarray]]]:
        """The read of `window` (started now if needed); also starts reading the next one."""
        with self._lock:
            for held in [key for key in self._loads if not window - 1 <= key <= window + 1]:
                del self._loads[held]
            for wanted in (window, window + 1):
                if wanted < len(self._windows) and wanted not in self._loads:
                    self._loads[wanted] = self._pool().submit(
                        _read, leaves, [self._range(block) for block in self._windows[wanted]]
                    )
            return self._loads[window]

    def batch(self, start: int, stop: int, leaves: list[Any]) -> list[np.ndarray]:
        """The rows at positions `start:stop` of this epoch's order, one array per leaf of `leaves`."""
        with self._lock:
            windows, ends, order = self._windows, self._ends, self.order
        first = int(np.searchsorted(ends, start, side="right"))
        last = int(np.searchsorted(ends, stop - 1, side="right"))
        parts: list[list[np.ndarray]] = []
        for window in range(first, last + 1):
            begin = int(ends[window - 1]) if window else 0
            rows = order[max(start, begin) : min(stop, int(ends[window]))]
            blocks = (rows + self._offset) // self._block_rows
            slots = np.searchsorted(windows[window], blocks)
            local = rows - np.maximum(0, blocks * self._block_rows - self._offset)
            held = self._load(window, leaves).result()
            parts.append([_gather(leaf_blocks, slots, local) for leaf_blocks in held])
        return [
            columns[0] if len(columns) == 1 else np.concatenate(columns)
            for columns in zip(*parts, strict=True)
        ]

    def close(self) -> None:
        """Stops the read-ahead thread of this process."""
        with self._lock:
            self._loads.clear()
            reader, owned = self._reader, self._reader_pid == os.getpid()
            self._reader = None
        if reader is not None and owned:
            reader.shutdown(wait=False, cancel_futures=True)


def _read(leaves: list[Any], ranges: list[tuple[int, int]]) -> list[list[np.ndarray]]:
    return [read_ranges(leaf, ranges) for leaf in leaves]


def _gather(blocks: list[np.ndarray], slots: np.ndarray, local: np.ndarray) -> np.ndarray:
    """`[blocks[slots[i]][local[i]] for i]` as one array, with one numpy call per block touched."""
    out = np.empty((slots.size, *blocks[0].shape[1:]), dtype=blocks[0].dtype)
    by_block = np.argsort(slots, kind="stable")
    sorted_slots = slots[by_block]
    edges = np.flatnonzero(sorted_slots[1:] != sorted_slots[:-1]) + 1
    for positions in np.split(by_block, edges):
        if positions.size:
            out[positions] = blocks[int(slots[positions[0]])][local[positions]]
    return out


def make_windows(
    leaves: list[Any], num_rows: int, fallback_rows: int, budget_bytes: int, rng: np.random.Generator
) -> ChunkWindows:
    """`ChunkWindows` for `leaves`: blocks match their largest chunks (`fallback_rows` rows if none is
    chunked), and K blocks per window keep `_WINDOWS_HELD` windows of all leaves, and room for
    the batches and the chunks being decoded, within `budget_bytes`."""
    layouts = [layout for layout in map(chunk_layout, leaves) if layout is not None]
    block_rows, offset = max(layouts) if layouts else (fallback_rows, 0)
    row_bytes = sum(
        int(np.prod(leaf.shape[1:], dtype=np.int64)) * np.dtype(leaf.dtype).itemsize for leaf in leaves
    )
    blocks_per_window = max(1, budget_bytes // max(1, _BUDGET_SHARES * block_rows * row_bytes))
    return ChunkWindows(num_rows, block_rows, offset, blocks_per_window, rng)
