"""`Sequence` (Keras 2.2.4's base class, accepted by every Keras line), `ArraySequence` and the enqueuers.

`kutils.Sequence` derives from the batch-source class of the active Keras line
(`keras.utils.PyDataset` on Keras 3, `tf_keras.utils.Sequence` on tf_keras,
see `kutils._keras.active_line`), and also from the other line's class when
that line is already imported when `kutils.Sequence` is first used, so a
tf_keras model imported directly (`import tf_keras`, no `TF_USE_LEGACY_KERAS`)
takes it too. The class carries defaults for `workers`, `use_multiprocessing`
and `max_queue_size`, so a Keras 2 subclass that never calls
`super().__init__()` works on both lines without warnings. Importing this
module imports Keras; `import kutils` does not import it until `Sequence` is used.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ._chunk_shuffle import ChunkWindows, is_compressed, make_windows
from ._keras import KERAS3, TF_KERAS, adapter, import_keras
from ._rows import read_range, read_rows
from ._tree import tree
from .enqueuers import GeneratorEnqueuer, OrderedEnqueuer, SequenceEnqueuer

__all__ = [
    "ArraySequence",
    "GeneratorEnqueuer",
    "OrderedEnqueuer",
    "Sequence",
    "SequenceEnqueuer",
    "iter_sequence_infinite",
]

DEFAULT_SHUFFLE_BUFFER_BYTES = 256 << 20


def _sequence_bases() -> tuple[type, ...]:
    """The active line's batch-source class, then the other line's if that line is imported."""
    active = import_keras("kutils.Sequence")
    imported = sys.modules.keys() - {active.__name__}
    others = [sys.modules[line] for line in (KERAS3, TF_KERAS) if line in imported]
    return tuple(adapter(keras).sequence_base(keras) for keras in [active, *others])


_SequenceBase: Any = type("_SequenceBase", _sequence_bases(), {})


class Sequence(_SequenceBase):  # type: ignore[misc]  # the Keras lines' dataset bases, chosen at run time
    """Base object for fitting to a sequence of data, such as a dataset.

    Every `Sequence` must implement the `__getitem__` and the `__len__` methods.
    If you want to modify your dataset between epochs you may implement
    `on_epoch_end`. The method `__getitem__` should return a complete batch.

    `fit`, `evaluate` and `predict` of the active Keras line accept it
    directly: it is a `keras.utils.PyDataset` on Keras 3 and a
    `tf_keras.utils.Sequence` on tf_keras (`TF_USE_LEGACY_KERAS=1`). tf_keras
    takes `workers=`/`use_multiprocessing=`/`max_queue_size=` in `fit` as
    Keras 2 did. Keras 3 has no such arguments in `fit`: there, to load
    batches in parallel, pass the keyword-only arguments below to
    `super().__init__(...)`, or set the attributes on an instance
    (`seq.workers = 4; seq.use_multiprocessing = True`). A subclass written for
    Keras 2, without a `super().__init__()` call, gets one worker and no
    warning, on both lines.

    Args:
        workers: (keyword-only) Number of threads or processes Keras 3 uses
            to load batches; 1 loads them in the training loop. (tf_keras
            reads `fit(workers=...)` instead.)
        use_multiprocessing: (keyword-only) Use processes instead of threads.
            Keras 3 forks them; the sequence must then be safe to fork.
        max_queue_size: (keyword-only) Batches Keras 3 prefetches.

    Example:

    ```python
    class CIFAR10Sequence(Sequence):
        def __init__(self, x_set, y_set, batch_size):
            self.x, self.y = x_set, y_set
            self.batch_size = batch_size

        def __len__(self):
            return math.ceil(len(self.x) / self.batch_size)

        def __getitem__(self, idx):
            batch_x = self.x[idx * self.batch_size:(idx + 1) * self.batch_size]
            batch_y = self.y[idx * self.batch_size:(idx + 1) * self.batch_size]
            return np.array(batch_x), np.array(batch_y)

    model.fit(CIFAR10Sequence(x, y, 32), epochs=10)
    ```
    """

    # The public attributes Keras 3 reads; class-level so that subclasses may skip super().__init__().
    # They replace PyDataset's properties, whose getters warn when PyDataset.__init__ did not run.
    workers: int = 1
    use_multiprocessing: bool = False
    max_queue_size: int = 10

    def __init__(
        self, *, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10
    ) -> None:
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index: int) -> Any:
        """Gets batch at position `index`.

        Args:
            index: position of the batch in the Sequence.

        Returns:
            A batch
        """
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index).")

    def __len__(self) -> int:
        """Number of batch in the Sequence.

        Returns:
            The number of batches in the Sequence.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement __len__().")

    def on_epoch_end(self) -> None:
        """Method called at the end of every epoch."""

    def __iter__(self) -> Iterator[Any]:
        """Create a generator that iterate over the Sequence."""
        for index in range(len(self)):
            yield self[index]


def iter_sequence_infinite(seq: Any) -> Iterator[Any]:
    """Iterates indefinitely over a Sequence (Keras 2.2.4 `data_utils` helper).

    Args:
        seq: a Sequence object.

    Yields:
        Batches of data from the Sequence, epoch after epoch.
    """
    while True:
        yield from seq


# -- ArraySequence -------------------------------------------------------------------------------------


def _map_structure(fn: Callable[[Any], Any], structure: Any) -> Any:
    return tree().map_structure(fn, structure)


def _leaves(structure: Any) -> list[Any]:
    return list(tree().flatten(structure))


def _check_array_like(value: Any, name: str) -> Any:
    if not (hasattr(value, "__getitem__") and hasattr(value, "__len__") and hasattr(value, "shape")):
        raise TypeError(
            f"ArraySequence: {name} must be array-likes (numpy arrays or memmaps, HDF5Matrix, h5py "
            f"datasets), or lists/tuples/dicts of them; got {type(value).__name__}."
        )
    return value


def _take_rows(array: Any, rows: np.ndarray | slice) -> np.ndarray:
    if isinstance(rows, slice):
        return read_range(array, rows.start, rows.stop)
    return read_rows(array, rows)


class _PicklableDataset:
    """Stands for an `h5py.Dataset` while pickled: reopened read-only as an HDF5Matrix."""

    def __init__(self, path: str, name: str) -> None:
        self.path, self.name = path, name

    def reopen(self) -> Any:
        from .hdf5 import HDF5Matrix

        return HDF5Matrix(self.path, self.name)


def _to_picklable(value: Any) -> Any:
    if type(value).__module__.startswith("h5py") and hasattr(value, "file"):
        return _PicklableDataset(value.file.filename, value.name)
    return value


def _from_picklable(value: Any) -> Any:
    return value.reopen() if isinstance(value, _PicklableDataset) else value


class ArraySequence(Sequence):
    """A `Sequence` of batches read from array-likes, for data that does not fit in memory.

    Keras 3 `fit`/`predict` given an `HDF5Matrix`, an h5py dataset or a memmap
    convert it to one in-memory array first; an `ArraySequence` reads one batch
    at a time instead, so memory stays bounded by a few batches.

    Args:
        x: Input data: an array-like (numpy array or memmap, `HDF5Matrix`,
            h5py dataset), or a list/tuple/dict of them for multi-input models.
        y: Target data, same forms as `x`, or None (prediction).
        sample_weight: Sample weights, same forms as `y`, or None.
        batch_size: Rows per batch (the last batch may be smaller).
        shuffle: False (rows in order); True (rows shuffled each epoch, read in
            sorted order and put back in shuffled order in memory; for
            compressed HDF5 data, True means `'chunks'`); `'chunks'` (each
            epoch, the file's chunks in a random order, and rows mixed across
            windows of K chunks: every chunk is decompressed once per epoch);
            or `'batch'` (Keras 2 meaning: the order of the full batches is
            shuffled each epoch, rows inside a batch stay contiguous and in
            order, the last partial batch stays last).
        seed: (keyword-only) Seed of the shuffling, for reproducible epochs.
        shuffle_buffer_bytes: (keyword-only) Memory for the windows of chunks
            that `'chunks'` holds (three windows of all arrays' rows, and one
            more window's worth for batches and decoding); sets K.
        workers: (keyword-only) Parallel loading in Keras 3, see `Sequence`.
        use_multiprocessing: (keyword-only) See `Sequence`.
        max_queue_size: (keyword-only) See `Sequence`.

    Raises:
        TypeError: If a leaf of `x`, `y` or `sample_weight` is not an array-like.
        ValueError: If the arrays have different numbers of rows, or
            `batch_size`/`shuffle` are invalid.

    Example:

    ```python
    x = HDF5Matrix('data.h5', 'images')
    y = HDF5Matrix('data.h5', 'labels')
    model.fit(ArraySequence(x, y, batch_size=256, shuffle='batch'), epochs=3)
    predictions = model.predict(ArraySequence(x, batch_size=1024))
    ```
    """

    def __init__(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        batch_size: int = 32,
        shuffle: bool | str = False,
        *,
        seed: int | None = None,
        shuffle_buffer_bytes: int = DEFAULT_SHUFFLE_BUFFER_BYTES,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
    ) -> None:
        super().__init__(
            workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size
        )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise ValueError(f"ArraySequence: batch_size={batch_size!r} must be a positive int.")
        if shuffle not in (False, True, "batch", "chunks"):
            raise ValueError(f"ArraySequence: shuffle={shuffle!r} must be False, True, 'batch' or 'chunks'.")
        if isinstance(shuffle_buffer_bytes, bool) or not isinstance(shuffle_buffer_bytes, int | np.integer):
            raise ValueError(
                f"ArraySequence: shuffle_buffer_bytes={shuffle_buffer_bytes!r} must be an int (bytes)."
            )
        self.x = _map_structure(lambda value: _check_array_like(value, "x"), x)
        self.y = None if y is None else _map_structure(lambda value: _check_array_like(value, "y"), y)
        self.sample_weight = (
            None
            if sample_weight is None
            else _map_structure(lambda value: _check_array_like(value, "sample_weight"), sample_weight)
        )
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self._shuffle_buffer_bytes = int(shuffle_buffer_bytes)
        self.num_samples = self._common_length()
        self._rng = np.random.default_rng(seed)
        self._order: np.ndarray = np.arange(0)
        leaves = self._all_leaves()
        self._windows: ChunkWindows | None = None
        if shuffle == "chunks" or (shuffle is True and any(is_compressed(leaf) for leaf in leaves)):
            self._windows = make_windows(
                leaves, self.num_samples, self.batch_size, int(shuffle_buffer_bytes), self._rng
            )
        self._reshuffle()

    def _all_leaves(self) -> list[Any]:
        return [
            leaf
            for part in (self.x, self.y, self.sample_weight)
            if part is not None
            for leaf in _leaves(part)
        ]

    def _common_length(self) -> int:
        named = [("x", self.x), ("y", self.y), ("sample_weight", self.sample_weight)]
        lengths = {name: [len(leaf) for leaf in _leaves(value)] for name, value in named if value is not None}
        distinct = {length for values in lengths.values() for length in values}
        if not lengths["x"]:
            raise ValueError("ArraySequence: x is empty; give at least one array.")
        if len(distinct) != 1:
            raise ValueError(f"ArraySequence: all arrays must have the same number of rows; got {lengths}.")
        return distinct.pop()

    def _reshuffle(self) -> None:
        if self._windows is not None:
            if self._order.size:  # the first order is drawn by make_windows
                self._windows.reshuffle()
            self._order = self._windows.order
        elif self.shuffle is True:
            self._order = self._rng.permutation(self.num_samples)
        elif self.shuffle == "batch":
            full = self.num_samples // self.batch_size
            self._order = np.concatenate([self._rng.permutation(full), np.arange(full, len(self))])
        else:
            self._order = np.arange(len(self))

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def _rows(self, index: int) -> np.ndarray | slice:
        if self.shuffle is True:
            return self._order[index * self.batch_size : (index + 1) * self.batch_size]
        batch = int(self._order[index])
        return slice(batch * self.batch_size, min((batch + 1) * self.batch_size, self.num_samples))

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        """Returns batch `index` as `(x,)`, `(x, y)` or `(x, y, sample_weight)`.

        Raises:
            IndexError: If `index` is not in `range(len(self))`.
        """
        if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < len(self):
            raise IndexError(f"ArraySequence: batch index {index!r} is out of range for {len(self)} batches.")
        if self._windows is not None:
            parts = [part for part in (self.x, self.y, self.sample_weight) if part is not None]
            start = int(index) * self.batch_size
            stop = min(start + self.batch_size, self.num_samples)
            values = iter(self._windows.batch(start, stop, self._all_leaves()))
            return tuple(_map_structure(lambda _: next(values), part) for part in parts)
        return self._read(self._rows(int(index)))

    def _read(self, rows: np.ndarray | slice) -> tuple[Any, ...]:
        """`(x[, y[, sample_weight]])` at `rows` (a slice, or indices in any order), as numpy arrays.

        The one way rows are read outside chunk windows: `__getitem__` and
        `distributed_fit` (which reads only the rows of this worker's
        replicas) both use it.
        """
        parts = [part for part in (self.x, self.y, self.sample_weight) if part is not None]
        return tuple(_map_structure(lambda array: _take_rows(array, rows), part) for part in parts)

    def on_epoch_end(self) -> None:
        """Reshuffles (when `shuffle` is True or 'batch')."""
        self._reshuffle()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("x", "y", "sample_weight"):
            state[name] = _map_structure(_to_picklable, state[name])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in ("x", "y", "sample_weight"):
            state[name] = _map_structure(_from_picklable, state[name])
        self.__dict__.update(state)
