"""Row-block work (kutils/_row_blocks.py): every row once, on several threads for large jobs, errors raised.

The large cases go through the threaded path of `to_categorical` and
`normalize` (outputs over 16 MiB) and are checked against plain NumPy.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kutils import _row_blocks
from kutils._row_blocks import for_row_blocks
from kutils.array_ops import normalize, to_categorical

LARGE_ROWS = 300_000  # x 16 float32 columns = 18 MiB of output: over the threaded threshold


def _record_blocks(rows: int, row_bytes: int) -> tuple[list[tuple[int, int]], set[int]]:
    blocks: list[tuple[int, int]] = []
    threads: set[int] = set()
    lock = threading.Lock()

    def work(start: int, stop: int) -> None:
        with lock:
            blocks.append((start, stop))
            threads.add(threading.get_ident())

    for_row_blocks(rows, row_bytes, work)
    return sorted(blocks), threads


@pytest.mark.parametrize(("rows", "row_bytes"), [(0, 8), (1, 8), (1000, 8), (7, 1 << 24), (LARGE_ROWS, 64)])
def test_blocks_cover_every_row_exactly_once(rows: int, row_bytes: int):
    blocks, _ = _record_blocks(rows, row_bytes)
    covered = [row for start, stop in blocks for row in range(start, stop)]
    assert covered == list(range(rows))
    assert all(stop > start for start, stop in blocks)


def test_large_jobs_run_on_every_usable_core_and_small_ones_on_the_caller():
    _, threads = _record_blocks(LARGE_ROWS, 64)
    assert len(threads) == min(_row_blocks._usable_cores(), _row_blocks._MAX_THREADS)
    _, threads = _record_blocks(1000, 64)
    assert threads == {threading.get_ident()}


def test_an_error_in_a_helper_thread_is_raised_to_the_caller_after_all_shares_stop():
    before = threading.active_count()
    raised_on: list[int] = []

    def work(start: int, stop: int) -> None:
        if stop == LARGE_ROWS:  # the last block: a helper thread's when there are several cores
            raised_on.append(threading.get_ident())
            raise MemoryError(f"block {start}:{stop} failed")

    with pytest.raises(MemoryError, match=f"block \\d+:{LARGE_ROWS} failed"):
        for_row_blocks(LARGE_ROWS, 64, work)
    assert threading.active_count() == before
    assert (raised_on != [threading.get_ident()]) == (_row_blocks._usable_cores() > 1)


def test_large_to_categorical_equals_identity_lookup():
    labels = np.random.default_rng(0).integers(0, 16, LARGE_ROWS)
    np.testing.assert_array_equal(to_categorical(labels, 16), np.eye(16, dtype="float32")[labels])


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_large_normalize_equals_numpy_row_norms(dtype: str):
    x = np.random.default_rng(1).standard_normal((LARGE_ROWS, 16)).astype(dtype)
    x[5] = 0  # a zero row stays zero
    expected = x / np.maximum(np.linalg.norm(x.astype("float64"), axis=-1, keepdims=True), 1e-300)
    result = normalize(x)
    assert result.dtype == x.dtype
    assert not result[5].any()
    np.testing.assert_allclose(result, expected.astype(dtype), rtol=2e-3 if dtype == "float16" else 1e-6)


def test_normalize_of_a_non_contiguous_view_and_of_another_axis_agree_with_the_contiguous_copy():
    x = np.random.default_rng(2).standard_normal((LARGE_ROWS, 32)).astype("float32")
    view = x[:, ::2]
    np.testing.assert_allclose(normalize(view), normalize(np.ascontiguousarray(view)), rtol=1e-6)
    np.testing.assert_allclose(normalize(x.T, axis=0), normalize(x).T, rtol=1e-6)
