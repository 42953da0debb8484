"""`HDF5Matrix` and `H5Dict` (`h5dict`): Keras 2.2.4's HDF5 helpers, safe and fast.

`HDF5Matrix` is an array-like view of rows `start:end` of an HDF5 dataset. It
opens the file read-only, lazily, once per process (it pickles by path and
reopens after a fork), indexes like numpy (any order, duplicates, negative
indices, steps) and reads random rows of uncompressed data straight from the file.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from ._h5open import H5pyFaults, lookup_dataset, open_read_only
from ._h5read import RowReader, open_row_reader
from .errors import HDF5DatasetNotFoundError, HDF5FileBusyError, HDF5FormatError, HDF5NotADatasetError

__all__ = [
    "H5Dict",
    "HDF5DatasetNotFoundError",
    "HDF5FileBusyError",
    "HDF5FormatError",
    "HDF5Matrix",
    "HDF5NotADatasetError",
    "h5dict",
]

Normalizer = Callable[[np.ndarray], Any]


class HDF5Matrix:
    """Representation of HDF5 dataset to be used instead of a Numpy array.

    Rows `start:end` of `dataset` in the file `datapath` behave like a numpy
    array: `len`, `shape`, `dtype`, `ndim`, `size` and indexing by int, slice,
    list, integer or boolean array (relative to `start`). `normalizer`, if
    given, is applied to every block of rows retrieved; `shape` and `dtype`
    describe its output.

    Keras 3 `model.predict(x)` and `model.fit(x, y)` accept an HDF5Matrix
    unchanged through `__array__`, but Keras 3 then loads **the whole window
    into memory**. For data larger than memory use
    `kutils.ArraySequence(x, y, batch_size=...)`, which streams batches.

    Beyond Keras 2.2.4: the file is opened read-only (never written), lazily and
    once per process; the object pickles by path (spawned workers reopen the
    file) and reopens after `os.fork`; `close()` and `with` release the file.
    Indices may come in any order and repeat; negative indices and slice steps
    follow numpy; random rows of uncompressed data are read straight from
    the file at their offsets (never through a memory map, so a file
    truncated by another program raises `HDF5FormatError` instead of killing
    the process).

    Args:
        datapath: string, path to an HDF5 file.
        dataset: string, name of the HDF5 dataset in the file specified in datapath.
        start: int, start of the desired slice of the specified dataset.
        end: int, end of the desired slice of the specified dataset
            (the dataset's length if None).
        normalizer: function to be called on data when retrieved. It gets a
            block of rows and must return the same number of rows.

    Raises:
        FileNotFoundError: If `datapath` does not exist.
        HDF5FormatError: (an `OSError`) if the file is not a readable HDF5 file.
        HDF5FileBusyError: (an `OSError`) if another process holds the file
            open for writing (HDF5 file lock, or an unfinished SWMR writer).
        HDF5DatasetNotFoundError: (a `KeyError`) if `dataset` is not in the
            file; the message lists the datasets that are.
        HDF5NotADatasetError: (a `TypeError`) if `dataset` names a group.
        ValueError: If `start`/`end` are out of range or `start > end`, or if
            `normalizer` changes the number of rows.
        TypeError: If `datapath` is not a path, `dataset` not a name, `start`/`end`
            not ints, or `normalizer` not callable.

    Example:

    ```python
    x_data = HDF5Matrix('input/file.hdf5', 'data')
    model.predict(x_data)                                   # in memory
    model.predict(kutils.ArraySequence(x_data, batch_size=1024))  # streamed
    ```
    """

    def __init__(
        self,
        datapath: str | os.PathLike[str],
        dataset: str,
        start: int = 0,
        end: int | None = None,
        normalizer: Normalizer | None = None,
    ) -> None:
        if not isinstance(datapath, str | bytes | os.PathLike):
            raise TypeError(f"HDF5Matrix: datapath={datapath!r} must be a path (str, bytes or os.PathLike).")
        if not isinstance(dataset, str | bytes):
            raise TypeError(f"HDF5Matrix: dataset={dataset!r} must be the dataset's name (a str).")
        if normalizer is not None and not callable(normalizer):
            raise TypeError(f"HDF5Matrix: normalizer={normalizer!r} must be a function (or None).")
        self.datapath = os.fspath(datapath)
        self.dataset = dataset
        self.normalizer = normalizer
        self._lock = threading.Lock()
        self._file: h5py.File | None = None
        self._data: h5py.Dataset | None = None
        self._reader: RowReader | None = None
        self._pid = -1
        data = self.data
        self.start, self.end = self._checked_window(start, end, data.shape[0])
        # Two rows, so that a normalizer dropping rows is caught here already.
        with H5pyFaults(self.datapath, "reading", self.dataset):
            rows = np.asarray(data[self.start : min(self.start + 2, self.end)])
        first = self._normalized(rows)
        self._base_shape: tuple[int, ...] = tuple(first.shape[1:])
        self._base_dtype: np.dtype = first.dtype

    def _checked_window(self, start: Any, end: Any, rows: int) -> tuple[int, int]:
        for name, value in (("start", start), ("end", end)):
            if (value is not None and not isinstance(value, int | np.integer)) or isinstance(value, bool):
                raise TypeError(f"HDF5Matrix: {name}={value!r} must be an int.")
        start = 0 if start is None else int(start)
        end = rows if end is None else int(end)
        if not 0 <= start <= rows:
            raise ValueError(
                f"HDF5Matrix: start={start} is out of range for {self.dataset!r} with {rows} rows."
            )
        if not 0 <= end <= rows:
            raise ValueError(f"HDF5Matrix: end={end} is out of range for {self.dataset!r} with {rows} rows.")
        if start > end:
            raise ValueError(f"HDF5Matrix: start={start} is greater than end={end}.")
        return start, end

    # -- file handling ----------------------------------------------------------------------------

    def _open(self) -> None:
        file = open_read_only(self.datapath)
        try:
            self._data = lookup_dataset(file, self.datapath, self.dataset)
            with H5pyFaults(self.datapath, "opening", self.dataset):
                self._reader = open_row_reader(self.datapath, self._data)
        except BaseException:
            file.close()
            raise
        self._file = file
        self._pid = os.getpid()

    def _ensure_open(self) -> tuple[h5py.Dataset, RowReader]:
        with self._lock:
            if self._pid != os.getpid():  # never opened, closed, or inherited through fork
                self._file = self._data = self._reader = None
                self._open()
            assert self._data is not None
            assert self._reader is not None
            return self._data, self._reader

    @property
    def data(self) -> h5py.Dataset:
        """The underlying `h5py.Dataset` (opened read-only in this process)."""
        return self._ensure_open()[0]

    def close(self) -> None:
        """Closes the file in this process; the next access reopens it."""
        with self._lock:
            file, owned = self._file, self._pid == os.getpid()
            self._file = self._data = self._reader = None
            self._pid = -1
        if file is not None and owned:
            file.close()

    def __enter__(self) -> HDF5Matrix:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_file", None) is not None:
            self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("_lock", "_file", "_data", "_reader"):
            state.pop(name)
        state["_pid"] = -1
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._file = self._data = self._reader = None

    # -- array protocol -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.end - self.start

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the window as the normalizer returns it, `(end - start,) + row shape`."""
        return (self.end - self.start, *self._base_shape)

    @property
    def dtype(self) -> np.dtype:
        """Dtype of the retrieved data (the normalizer's output dtype)."""
        return self._base_dtype

    @property
    def ndim(self) -> int:
        """Rank of the retrieved data, `len(shape)` (2.2.4 gave the raw dataset's rank)."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements, `prod(shape)`."""
        return int(np.prod(self.shape))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """Reads the whole window into memory (numpy/Keras 3 conversion); `copy=False` is refused."""
        if copy is False:
            raise ValueError(
                "HDF5Matrix: cannot make an array without copying (copy=False); data is on disk."
            )
        values: np.ndarray = self[:]
        return values if dtype is None else values.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return (
            f"HDF5Matrix({self.datapath!r}, {self.dataset!r}, start={self.start}, end={self.end}, "
            f"shape={self.shape}, dtype={self.dtype})"
        )

    def __iter__(self) -> Iterator[Any]:
        for index in range(len(self)):
            yield self[index]

    # -- indexing -------------------------------------------------------------------------------------

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple):
            if key and (key[0] is Ellipsis or key[0] is None):
                return self[:][key]
            head, rest = (key[0], key[1:]) if key else (slice(None), ())
            block, block_key = self._select(head)
            return block[(block_key, *rest)]
        block, block_key = self._select(key)
        if isinstance(block_key, slice):
            return block
        return block[block_key]

    def _select(self, key: Any) -> tuple[np.ndarray, Any]:
        """Reads the rows `key` selects; returns `(block, index into block giving numpy's result)`."""
        length = len(self)
        if key is Ellipsis:
            key = slice(None)
        if isinstance(key, slice):
            start, stop, step = key.indices(length)
            _, reader = self._ensure_open()
            with H5pyFaults(self.datapath, "reading rows", self.dataset):
                block = reader.read_slice(start + self.start, stop + self.start, step)
            return self._normalized(block), slice(None)
        if isinstance(key, int | np.integer) and not isinstance(key, bool | np.bool_):
            row = int(key)
            if not -length <= row < length:
                raise IndexError(f"HDF5Matrix: index {row} is out of bounds for length {length}.")
            return self._take(np.array([row % length])), 0
        rows = self._rows_from_array(key, length)
        return self._take(rows.reshape(-1)), np.arange(rows.size).reshape(rows.shape)

    def _rows_from_array(self, key: Any, length: int) -> np.ndarray:
        try:
            rows = np.asarray(key)
        except (TypeError, ValueError) as error:
            raise IndexError(f"HDF5Matrix: cannot index with {key!r} ({error}).") from error
        if rows.dtype == bool:
            if rows.shape != (length,):
                raise IndexError(
                    f"HDF5Matrix: boolean index of shape {rows.shape} does not match length {length}."
                )
            return np.flatnonzero(rows)
        if rows.size == 0:
            return rows.astype(np.intp)
        if rows.dtype.kind not in "iu":
            raise IndexError(
                f"HDF5Matrix: indices must be integers, slices or booleans; got {key!r} (dtype {rows.dtype})."
            )
        bad = rows[(rows < -length) | (rows >= length)]
        if bad.size:
            raise IndexError(f"HDF5Matrix: index {int(bad.flat[0])} is out of bounds for length {length}.")
        return rows.astype(np.intp) % max(length, 1)

    def _take(self, rows: np.ndarray) -> np.ndarray:
        _, reader = self._ensure_open()
        with H5pyFaults(self.datapath, "reading rows", self.dataset):
            block = reader.take(rows + self.start)
        return self._normalized(block)

    def _normalized(self, block: np.ndarray) -> np.ndarray:
        if self.normalizer is None:
            return block
        result = np.asarray(self.normalizer(block))
        if result.ndim == 0 or result.shape[0] != block.shape[0]:
            raise ValueError(
                f"HDF5Matrix: normalizer={self.normalizer!r} turned {block.shape[0]} rows (shape "
                f"{block.shape}) into shape {result.shape}; it must keep the number of rows."
            )
        return result


# -- H5Dict ---------------------------------------------------------------------------------------------

_HDF5_OBJECT_HEADER_LIMIT = 64512


class H5Dict:
    """A dict-like wrapper around h5py groups (or dicts), as in Keras 2.2.4.

    Keras 2.2.4 used it to write and read models with one code path, whether
    the target was an HDF5 file or an in-memory dict. Values: numpy arrays
    become datasets, strings/numbers/lists become attributes (long string lists
    are split across attributes `name0`, `name1`, ...), missing keys become
    sub-groups (unless read-only).

    Args:
        path: An `h5py.Group` (or File), a path to an HDF5 file, or a `dict`.
        mode: File mode when `path` is a path (`'a'` by default, as in 2.2.4;
            `'r'` makes the wrapper read-only).

    Raises:
        TypeError: If `path` is none of the accepted types.

    Example:

    ```python
    with H5Dict('weights.h5', mode='w') as f:
        f['kernel'] = np.ones((2, 2))
        f['names'] = ['dense_1']
    ```
    """

    def __init__(self, path: h5py.Group | str | os.PathLike[str] | dict[str, Any], mode: str = "a") -> None:
        if isinstance(path, h5py.Group):
            self.data: Any = path  # an h5py Group (or File), or a dict of numpy arrays
            self._is_file = False
        elif isinstance(path, str | os.PathLike):
            self.data = h5py.File(os.fspath(path), mode=mode)
            self._is_file = True
        elif isinstance(path, dict):
            self.data = path
            self._is_file = False
            self.data["_is_group"] = True
        else:
            raise TypeError(f"H5Dict: path must be an h5py Group, a file path or a dict; got {type(path)}.")
        self.read_only = mode == "r"

    def _check_writable(self, what: str) -> None:
        if self.read_only:
            raise ValueError(f"H5Dict: cannot {what} in read only mode.")

    def __setitem__(self, attr: str, val: Any) -> None:
        self._check_writable(f"set item {attr!r}")
        is_numpy = type(val).__module__ == np.__name__
        if isinstance(self.data, dict):
            key = attr.decode("utf-8") if isinstance(attr, bytes) else attr
            self.data[key] = np.array(val, copy=True) if is_numpy else val
            return
        if attr in self.data:
            raise KeyError(f"H5Dict: cannot set attribute {attr!r}: a group with that name exists.")
        if is_numpy:
            self.data.create_dataset(attr, data=np.asarray(val))
        elif isinstance(val, list):
            self._set_list_attribute(attr, val)
        else:
            self.data.attrs[attr] = val

    def _set_list_attribute(self, attr: str, val: list[Any]) -> None:
        assert isinstance(self.data, h5py.Group)
        too_big = [item for item in val if len(item) > _HDF5_OBJECT_HEADER_LIMIT]
        if too_big:
            raise RuntimeError(
                f"H5Dict: items of {attr!r} longer than {_HDF5_OBJECT_HEADER_LIMIT} bytes cannot be saved "
                f"as HDF5 attributes: {too_big[:3]}"
            )
        encoded = np.asarray([item.encode("utf-8") if isinstance(item, str) else item for item in val])
        chunks = 1
        while any(part.nbytes > _HDF5_OBJECT_HEADER_LIMIT for part in np.array_split(encoded, chunks)):
            chunks += 1
        if chunks == 1:
            self.data.attrs[attr] = encoded
            return
        for index, part in enumerate(np.array_split(encoded, chunks)):
            self.data.attrs[f"{attr}{index}"] = part

    def __getitem__(self, attr: str) -> Any:
        if isinstance(self.data, dict):
            key = attr.decode("utf-8") if isinstance(attr, bytes) else attr
            if key in self.data:
                value = self.data[key]
                return H5Dict(value) if isinstance(value, dict) and value.get("_is_group") else value
            self._check_writable(f"create group {attr!r}")
            self.data[key] = {"_is_group": True}
            return H5Dict(self.data[key])
        if attr in self.data.attrs:
            value = self.data.attrs[attr]
            if isinstance(value, np.ndarray) and value.dtype.kind == "S":
                return [item.decode("utf-8") for item in value.tolist()]
            return value
        if attr in self.data:
            node = self.data[attr]
            return np.asarray(node) if isinstance(node, h5py.Dataset) else H5Dict(node)
        if f"{attr}0" in self.data.attrs:
            return self._get_chunked_attribute(attr)
        self._check_writable(f"create group {attr!r}")
        return H5Dict(self.data.create_group(attr))

    def _get_chunked_attribute(self, attr: str) -> list[Any]:
        assert isinstance(self.data, h5py.Group)
        values: list[Any] = []
        index = 0
        while f"{attr}{index}" in self.data.attrs:
            values.extend(
                item.decode("utf-8") if isinstance(item, bytes) else item
                for item in self.data.attrs[f"{attr}{index}"].tolist()
            )
            index += 1
        return values

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def iter(self) -> Iterator[str]:
        """Iterates over the keys (2.2.4 name)."""
        return iter(self.data)

    def __contains__(self, key: object) -> bool:
        if isinstance(self.data, dict):
            return key in self.data
        return key in self.data or key in self.data.attrs

    def get(self, key: str, default: Any = None) -> Any:
        """Returns `self[key]` if `key` is present, else `default` (never creates a group)."""
        if key in self:
            return self[key]
        return default

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Sets every item of a mapping (and keyword arguments), like `dict.update`."""
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def close(self) -> None:
        """Flushes the file, and closes it if this wrapper opened it from a path."""
        if isinstance(self.data, h5py.Group):
            if self.data.file.id.valid and self.data.file.mode != "r":
                self.data.file.flush()
            if self._is_file:
                self.data.close()

    def __enter__(self) -> H5Dict:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __getattr__(self, attr: str) -> Any:
        if attr == "data":
            raise AttributeError(attr)
        value = getattr(self.data, attr)
        if not callable(value):
            return value
        data = self.data

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            out = value(*args, **kwargs)
            # As in 2.2.4: a result of the wrapped object's kind (a group from `create_group`) is wrapped too.
            return H5Dict(out) if isinstance(data, type(out)) else out

        return wrapped


h5dict = H5Dict
