"""The one row-reading helper (`kutils._rows`): sorted, de-duplicated, chunk-aware reads."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kutils import HDF5Matrix
from kutils._rows import chunk_runs, read_range, read_rows, take_rows

ROWS = 50


class _SortedOnly:
    """An array-like that, like h5py, refuses indices that are not strictly increasing."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.shape = values.shape
        self.reads: list[object] = []

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, key: object) -> np.ndarray:
        self.reads.append(key)
        if isinstance(key, np.ndarray):
            assert bool(np.all(key[1:] > key[:-1])), f"unsorted read {key}"
        return self.values[key]  # type: ignore[index]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, ROWS - 1), max_size=40))
def test_take_rows_matches_numpy_and_reads_sorted_unique(rows: list[int]):
    values = np.arange(ROWS * 3).reshape(ROWS, 3)
    seen: list[np.ndarray] = []

    def read_sorted(sorted_rows: np.ndarray) -> np.ndarray:
        seen.append(sorted_rows)
        return values[sorted_rows]

    got = take_rows(np.array(rows, dtype=np.intp), read_sorted)
    np.testing.assert_array_equal(got, values[np.array(rows, dtype=np.intp)])
    assert len(seen) == 1
    assert np.array_equal(seen[0], np.unique(np.array(rows, dtype=np.intp)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, ROWS - 1), max_size=40, unique=True), st.integers(1, 12))
def test_chunk_runs_groups_each_chunk_once(rows: list[int], chunk_rows: int):
    sorted_rows = np.array(sorted(rows), dtype=np.intp)
    runs = list(chunk_runs(sorted_rows, chunk_rows))
    chunks = [chunk for chunk, _ in runs]
    assert chunks == sorted(set(chunks))
    for chunk, group in runs:
        assert bool(np.all(group // chunk_rows == chunk))
    joined = np.concatenate([group for _, group in runs]) if runs else np.empty(0, np.intp)
    np.testing.assert_array_equal(joined, sorted_rows)


def test_read_rows_on_a_sorted_only_array_like_reads_one_run_or_one_sorted_selection():
    array = _SortedOnly(np.arange(ROWS * 2).reshape(ROWS, 2))
    np.testing.assert_array_equal(read_rows(array, np.array([7, 5, 6, 5])), array.values[[7, 5, 6, 5]])
    assert array.reads == [slice(5, 8)]  # consecutive rows: one slice
    np.testing.assert_array_equal(read_rows(array, np.array([30, 2, 2, 9])), array.values[[30, 2, 2, 9]])
    assert isinstance(array.reads[-1], np.ndarray)
    assert read_rows(array, np.array([], dtype=np.intp)).shape == (0, 2)


@pytest.fixture
def chunked_file(tmp_path: Path) -> Path:
    path = tmp_path / "rows.h5"
    with h5py.File(path, "w") as file:
        values = np.arange(ROWS * 4, dtype=np.float32).reshape(ROWS, 4)
        file.create_dataset("gzip", data=values, chunks=(8, 4), compression="gzip")
        file.create_dataset("plain", data=values)
    return path


@pytest.mark.parametrize("name", ["gzip", "plain"])
def test_read_rows_and_range_on_h5py_datasets_and_hdf5matrix(chunked_file: Path, name: str):
    rows = np.array([49, 3, 3, 17, 0, 48, 3])
    expected = np.arange(ROWS * 4, dtype=np.float32).reshape(ROWS, 4)
    with h5py.File(chunked_file, "r") as file:
        np.testing.assert_array_equal(read_rows(file[name], rows), expected[rows])
        np.testing.assert_array_equal(read_range(file[name], 9, 31), expected[9:31])
    with HDF5Matrix(chunked_file, name) as matrix:
        np.testing.assert_array_equal(read_rows(matrix, rows), expected[rows])
        np.testing.assert_array_equal(read_range(matrix, 9, 31), expected[9:31])
    np.testing.assert_array_equal(read_rows(expected, rows), expected[rows])
