"""Compressed HDF5 chunks read raw and decoded in parallel, off the GIL.

h5py serialises every call into HDF5 behind one lock, so reading compressed
chunks through h5py decodes one chunk at a time. Here each chunk's stored
bytes come out of HDF5 with `read_direct_chunk` (a quick copy under that
lock), and the filter pipeline is undone in a thread pool by codecs that
release the GIL:

| HDF5 filter | decoder |
|---|---|
| deflate (gzip) | `imagecodecs.deflate_decode` (libdeflate), else the standard library's `zlib` |
| shuffle | numpy (a byte transpose) |
| lzf | `imagecodecs.lzf_decode` |
| blosc, zstd (`hdf5plugin` files) | `imagecodecs.blosc_decode`, `imagecodecs.zstd_decode` |

`imagecodecs` is the optional extra `kutils[hdf5]`. Any other filter
(fletcher32, szip, scale-offset, n-bit, ...), a missing codec, chunks that
split rows, unallocated chunks, or a file this process also writes: the
caller falls back to h5py (`kutils._h5read`), which gives identical values.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import h5py
import numpy as np
from h5py._objects import phil  # h5py's lock around every HDF5 call (HDF5 itself is not thread-safe)

from ._rows import chunk_runs, take_rows

__all__ = ["ChunkDecodeReader", "chunk_decoders"]

# decode(stored, decoded size, out): `out` is None, or a flat uint8 array of the decoded size to fill.
Decoder = Callable[[Any, int, "np.ndarray | None"], Any]

_DEFLATE, _SHUFFLE, _LZF, _BLOSC, _ZSTD = 1, 2, 32000, 32001, 32015


def _imagecodecs() -> Any:
    try:
        import imagecodecs
    except ImportError:
        return None
    return imagecodecs


def _into(result: Any, out: np.ndarray | None) -> Any:
    """`result`, copied into `out` when one is given and the codec did not write there itself."""
    if out is None or result is out:
        return result
    out[:] = np.frombuffer(result, dtype=np.uint8)
    return out


def _zlib_decode(data: Any, size: int, out: np.ndarray | None) -> Any:
    return _into(zlib.decompress(data, bufsize=size), out)


def _unshuffle(element_size: int) -> Decoder:
    def decode(data: Any, size: int, out: np.ndarray | None) -> Any:
        raw = np.frombuffer(data, dtype=np.uint8)
        count = raw.size // element_size
        if element_size <= 1 or count <= 1:
            return _into(data, out)
        target = np.empty(raw.size, dtype=np.uint8) if out is None else out
        body = count * element_size
        target[:body].reshape(count, element_size)[:] = raw[:body].reshape(element_size, count).T
        target[body:] = raw[body:]
        return target

    return decode


def _codec(decode: Callable[..., Any], sized: bool) -> Decoder:
    """An imagecodecs decoder writing into `out` when given (`sized`: it needs the decoded size)."""

    def run(data: Any, size: int, out: np.ndarray | None) -> Any:
        if out is not None:
            return _into(decode(data, out=out), out)
        return decode(data, out=size) if sized else decode(data)

    return run


def _decoder(filter_id: int, values: tuple[int, ...]) -> Decoder | None:
    codecs = _imagecodecs()
    if filter_id == _SHUFFLE:
        return _unshuffle(int(values[0]) if values else 1)
    if filter_id == _DEFLATE:
        if codecs is not None and codecs.DEFLATE.available:
            return _codec(codecs.deflate_decode, sized=True)
        return _zlib_decode
    if codecs is None:
        return None
    if filter_id == _LZF and codecs.LZF.available:
        return _codec(codecs.lzf_decode, sized=True)
    if filter_id == _BLOSC and codecs.BLOSC.available:
        return _codec(codecs.blosc_decode, sized=False)
    if filter_id == _ZSTD and codecs.ZSTD.available:
        return _codec(codecs.zstd_decode, sized=False)
    return None


def chunk_decoders(dataset: h5py.Dataset) -> list[Decoder] | None:
    """The dataset's filter pipeline as decoders in decode order, or None if one is unknown.

    Args:
        dataset: A chunked h5py dataset.

    Returns:
        One decoder per filter (last filter first), or None when some filter
        cannot be decoded here or the dataset has no filter at all.
    """
    plist = dataset.id.get_create_plist()
    count = plist.get_nfilters()
    if count == 0:
        return None
    decoders: list[Decoder] = []
    for index in reversed(range(count)):
        filter_id, _flags, values, _name = plist.get_filter(index)
        decoder = _decoder(int(filter_id), tuple(values))
        if decoder is None:
            return None
        decoders.append(decoder)
    return decoders


_THREADS = os.cpu_count() or 2
_IN_FLIGHT = 4 * _THREADS  # chunks read and not yet decoded, at most
_POOL: ThreadPoolExecutor | None = None
_POOL_PID = -1
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The decoding threads of this process (made again after a fork: threads do not survive one).

    Long-lived, like a BLAS thread pool; named `kutils.h5decode_N`, apart from the `kutils-` threads of
    the enqueuers, which end with their enqueuer."""
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or os.getpid() != _POOL_PID:
            _POOL = ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="kutils.h5decode")
            _POOL_PID = os.getpid()
        return _POOL


class ChunkDecodeReader:
    """Row reader of a chunked, filtered dataset whose chunks span whole rows (see the module doc).

    Args:
        dataset: The open dataset.
        decoders: `chunk_decoders(dataset)`.
    """

    def __init__(self, dataset: h5py.Dataset, decoders: list[Decoder]) -> None:
        self._dataset = dataset
        self._decoders = decoders
        self._chunk_rows = int(dataset.chunks[0])
        self._rows = int(dataset.shape[0])
        self._row_shape = tuple(dataset.shape[1:])
        self._dtype = dataset.dtype
        self._chunk_bytes = int(np.prod(dataset.chunks)) * dataset.dtype.itemsize
        self._zeros = (0,) * (dataset.ndim - 1)

    def _empty(self, count: int) -> np.ndarray:
        return np.empty((count, *self._row_shape), dtype=self._dtype)

    def _decode(self, stored: Any, mask: int, out: np.ndarray | None) -> np.ndarray:
        """The chunk's values from its stored bytes; decoded straight into `out` (flat uint8) if given."""
        last = len(self._decoders) - 1
        applied = [  # bit i of the mask set: filter i was skipped for this chunk
            decoder for position, decoder in enumerate(self._decoders) if not mask & (1 << (last - position))
        ]
        data = stored
        for number, decoder in enumerate(applied):
            data = decoder(data, self._chunk_bytes, out if number == len(applied) - 1 else None)
        if not applied:
            data = _into(data, out)
        size = data.nbytes if isinstance(data, np.ndarray) else len(data)
        if size != self._chunk_bytes:
            raise OSError(f"decoded chunk has {size} bytes, expected {self._chunk_bytes}")
        return np.frombuffer(data, dtype=self._dtype).reshape(self._chunk_rows, *self._row_shape)

    def _chunk_job(self, chunk: int) -> Callable[[np.ndarray | None], np.ndarray]:
        """Reads chunk `chunk`'s stored bytes now (HDF5 lock); returns the decoding to run elsewhere.

        h5py's lock is taken here around both calls: `read_direct_chunk` does not take it itself before
        h5py 3.15 (https://github.com/h5py/h5py/pull/2764), and HDF5 crashes when threads enter it at
        once. The lock is reentrant, so the h5py calls inside take it again without waiting."""
        coordinates = (chunk * self._chunk_rows, *self._zeros)
        with phil:
            if self._dataset.id.get_chunk_info_by_coord(coordinates).byte_offset is None:
                first = coordinates[0]  # never written: h5py gives the fill value
                values = np.asarray(self._dataset[first : first + self._chunk_rows])
                return lambda out: values
            mask, stored = self._dataset.id.read_direct_chunk(coordinates)
        return lambda out: self._decode(stored, mask, out)

    def _read_into(self, outs: list[np.ndarray], row_sets: list[np.ndarray]) -> None:
        """Fills `outs[i]` with the strictly increasing rows `row_sets[i]`, chunks decoded on the pool."""
        pool = _pool()
        pending: deque[Future[None]] = deque()
        for out, rows in zip(outs, row_sets, strict=True):
            position = 0
            for chunk, group in chunk_runs(rows, self._chunk_rows):
                if len(pending) >= _IN_FLIGHT:  # bounds the stored bytes held while a large read decodes
                    pending.popleft().result()
                job = self._chunk_job(chunk)
                target = slice(position, position + group.size)
                local = group - chunk * self._chunk_rows
                whole = group.size == self._chunk_rows
                pending.append(pool.submit(_fill, out, target, job, local, whole))
                position += group.size
        for future in pending:
            future.result()

    def _read_sorted(self, rows: np.ndarray) -> np.ndarray:
        out = self._empty(rows.size)
        self._read_into([out], [rows])
        return out

    def read_ranges(self, ranges: list[tuple[int, int]]) -> list[np.ndarray]:
        """Rows `start:stop` for each `(start, stop)` of `ranges`, all chunks decoded in parallel."""
        outs = [self._empty(stop - start) for start, stop in ranges]
        self._read_into(outs, [np.arange(start, stop, dtype=np.intp) for start, stop in ranges])
        return outs

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Rows `rows` (any order, repeats), each touched chunk read and decoded once."""
        return take_rows(rows, self._read_sorted)

    def read_slice(self, start: int, stop: int, step: int) -> np.ndarray:
        """Rows `range(start, stop, step)` (as `slice.indices` gives them)."""
        return self.take(np.arange(start, stop, step, dtype=np.intp))


def _fill(
    out: np.ndarray,
    target: slice,
    job: Callable[[np.ndarray | None], np.ndarray],
    local: np.ndarray,
    whole: bool,
) -> None:
    """Puts rows `local` of a chunk into `out[target]`; a `whole` chunk is decoded in place."""
    destination = out[target]
    if whole and destination.flags.c_contiguous:
        chunk = job(destination.reshape(-1).view(np.uint8))
        if np.may_share_memory(chunk, destination):
            return
    else:
        chunk = job(None)
    if int(local[-1]) - int(local[0]) == local.size - 1:
        out[target] = chunk[int(local[0]) : int(local[-1]) + 1]
    else:
        out[target] = chunk[local]
