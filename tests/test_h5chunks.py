"""Parallel decoding of compressed chunks (`kutils._h5chunks`) gives exactly h5py's values."""

from __future__ import annotations

import itertools
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest
from _hdf5_support import run_python
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kutils import HDF5Matrix, _h5chunks
from kutils._h5chunks import ChunkDecodeReader

# Filters as h5py's create_dataset takes them, and whether kutils decodes them itself.
FILTERS: dict[str, tuple[dict[str, object], bool]] = {
    "gzip": ({"compression": "gzip", "compression_opts": 4}, True),
    "gzip-shuffle": ({"compression": "gzip", "shuffle": True}, True),
    "lzf": ({"compression": "lzf"}, True),
    "lzf-shuffle": ({"compression": "lzf", "shuffle": True}, True),
    "shuffle-only": ({"shuffle": True}, True),
    "blosc": (dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE)), True),
    "zstd": (dict(hdf5plugin.Zstd(clevel=3)), True),
    "gzip-fletcher32": ({"compression": "gzip", "fletcher32": True}, False),
    "scaleoffset": ({"scaleoffset": 0}, False),
}
DTYPES = ["uint8", "<i2", ">i4", "<f4", ">f8"]

_counter = itertools.count()


@st.composite
def _datasets(draw: st.DrawFn) -> dict[str, object]:
    rows = draw(st.integers(1, 40))
    row_shape = tuple(draw(st.lists(st.integers(1, 4), max_size=2)))
    dtype = draw(st.sampled_from(DTYPES))
    filter_name = draw(st.sampled_from(sorted(FILTERS)))
    if filter_name == "scaleoffset":
        dtype = draw(st.sampled_from(["uint8", "<i2", ">i4"]))
    chunk_rows = draw(st.integers(1, 12))
    split_rows = bool(row_shape) and draw(st.booleans())  # chunks that split rows: h5py path
    chunks = (chunk_rows, *((1,) * len(row_shape) if split_rows else row_shape))
    written = draw(st.integers(0, rows))  # rows past `written` stay unallocated (fill value)
    keys = draw(st.lists(st.integers(-rows, rows - 1), max_size=20))
    return {
        "rows": rows,
        "row_shape": row_shape,
        "dtype": dtype,
        "filter": filter_name,
        "chunks": chunks,
        "written": written,
        "keys": keys,
    }


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=_datasets())
def test_rows_equal_h5py_over_random_shapes_chunkings_and_filters(tmp_path: Path, spec: dict[str, object]):
    path = tmp_path / f"case{next(_counter)}.h5"
    rows, row_shape, dtype = spec["rows"], spec["row_shape"], spec["dtype"]
    assert isinstance(rows, int)
    assert isinstance(row_shape, tuple)
    assert isinstance(dtype, str)
    options, decodable = FILTERS[str(spec["filter"])]
    values = (np.arange(rows * int(np.prod(row_shape))) % 97).astype(dtype).reshape(rows, *row_shape)
    with h5py.File(path, "w") as file:
        dataset = file.create_dataset(
            "x",
            shape=values.shape,
            maxshape=(None, *row_shape),
            dtype=dtype,
            chunks=spec["chunks"],
            fillvalue=7,
            **options,
        )
        written = spec["written"]
        assert isinstance(written, int)
        if written:
            dataset[:written] = values[:written]
    keys = np.array(spec["keys"], dtype=np.intp)
    with h5py.File(path, "r") as file:
        expected = file["x"][()]
    with HDF5Matrix(path, "x") as matrix:
        _, reader = matrix._ensure_open()
        whole_rows = tuple(spec["chunks"][1:]) == row_shape  # type: ignore[index]
        assert isinstance(reader, ChunkDecodeReader) == (decodable and whole_rows)
        np.testing.assert_array_equal(matrix[keys], expected[keys])
        np.testing.assert_array_equal(matrix[:], expected)
        np.testing.assert_array_equal(matrix[::-2], expected[::-2])
        np.testing.assert_array_equal(matrix[1:-1:3], expected[1:-1:3])
        assert matrix[keys].dtype == expected.dtype


def _write(path: Path, options: dict[str, object], rows: int = 300, chunk_rows: int = 16) -> np.ndarray:
    values = np.arange(rows * 6, dtype=np.float32).reshape(rows, 6) % 13
    with h5py.File(path, "w") as file:
        file.create_dataset("x", data=values, chunks=(chunk_rows, 6), **options)  # type: ignore[arg-type]
    return values


def test_without_imagecodecs_gzip_uses_zlib_and_lzf_falls_back_to_h5py(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(_h5chunks, "_imagecodecs", lambda: None)
    gzip_values = _write(tmp_path / "g.h5", {"compression": "gzip", "shuffle": True})
    lzf_values = _write(tmp_path / "l.h5", {"compression": "lzf"})
    rows = np.array([299, 0, 17, 17, 150])
    with HDF5Matrix(tmp_path / "g.h5", "x") as matrix:
        assert isinstance(matrix._ensure_open()[1], ChunkDecodeReader)
        np.testing.assert_array_equal(matrix[rows], gzip_values[rows])
    with HDF5Matrix(tmp_path / "l.h5", "x") as matrix:
        assert not isinstance(matrix._ensure_open()[1], ChunkDecodeReader)
        np.testing.assert_array_equal(matrix[rows], lzf_values[rows])


def test_chunks_are_decoded_on_the_thread_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    values = _write(tmp_path / "g.h5", {"compression": "gzip"})
    import threading

    decoding_threads: set[str] = set()
    real_decode = ChunkDecodeReader._decode

    def spy(self: ChunkDecodeReader, stored: bytes, mask: int, out: np.ndarray | None) -> np.ndarray:
        decoding_threads.add(threading.current_thread().name)
        return real_decode(self, stored, mask, out)

    monkeypatch.setattr(ChunkDecodeReader, "_decode", spy)
    with HDF5Matrix(tmp_path / "g.h5", "x") as matrix:
        np.testing.assert_array_equal(matrix[:], values)
    assert decoding_threads
    assert all(name.startswith("kutils.h5decode") for name in decoding_threads)


def test_file_open_for_writing_in_this_process_reads_through_h5py(tmp_path: Path):
    values = _write(tmp_path / "g.h5", {"compression": "gzip"})
    with h5py.File(tmp_path / "g.h5", "r+") as writer:
        writer["x"][5] = -1.0  # may sit in HDF5's chunk cache, not on disk yet
        with HDF5Matrix(tmp_path / "g.h5", "x") as matrix:
            assert not isinstance(matrix._ensure_open()[1], ChunkDecodeReader)
            assert matrix[5].tolist() == [-1.0] * 6
            np.testing.assert_array_equal(matrix[6:9], values[6:9])


def test_threads_reading_compressed_chunks_at_once_get_their_rows(tmp_path: Path):
    """Eight threads reading chunks of one dataset at once: each gets its rows, and HDF5 does not crash.

    h5py before 3.15 let `read_direct_chunk` into HDF5 without its lock
    (https://github.com/h5py/h5py/pull/2764); threads then crashed the process or
    read "Can't read unprocessed chunk data". Run in a child process so that a
    crash fails this test rather than ending the test run.
    """
    _write(tmp_path / "g.h5", {"compression": "gzip"}, rows=256, chunk_rows=1)
    output = run_python(
        f"""
        from concurrent.futures import ThreadPoolExecutor
        import h5py
        import numpy as np
        from kutils import HDF5Matrix

        with h5py.File({str(tmp_path / "g.h5")!r}, "r") as file:
            expected = file["x"][:]
        matrix = HDF5Matrix({str(tmp_path / "g.h5")!r}, "x")
        orders = [np.random.default_rng(seed).permutation(256) for seed in range(16)]

        def read(order):
            return all(np.array_equal(matrix[order], expected[order]) for _ in range(2))

        with ThreadPoolExecutor(8) as pool:
            print(sum(pool.map(read, orders)))
        """
    )
    assert output.split() == ["16"]
