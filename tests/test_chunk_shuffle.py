"""ArraySequence(shuffle='chunks'): every row once per epoch, each chunk decompressed once per epoch."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest

from kutils import ArraySequence, HDF5Matrix
from kutils._h5chunks import ChunkDecodeReader

ROWS = 1000
CHUNK = 16
COLUMNS = 4
ROW_BYTES = COLUMNS * 4 + 4  # x (4 float32) + y (1 float32)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """x[i] = [i, i, i, i] (each row names itself), y[i] = i; gzip chunks of 16 rows, and plain copies."""
    path = tmp_path_factory.mktemp("chunks") / "data.h5"
    x = np.repeat(np.arange(ROWS, dtype=np.float32)[:, None], COLUMNS, axis=1)
    with h5py.File(path, "w") as file:
        file.create_dataset("x", data=x, chunks=(CHUNK, COLUMNS), compression="gzip")
        file.create_dataset("y", data=np.arange(ROWS, dtype=np.float32), chunks=(CHUNK,), compression="lzf")
        file.create_dataset("x_plain", data=x)
    return path


def _epoch(sequence: ArraySequence) -> np.ndarray:
    rows = []
    for index in range(len(sequence)):
        x, y = sequence[index]
        assert np.array_equal(x[:, 0], y)  # x and y stay aligned
        rows.append(y.astype(int))
    return np.concatenate(rows)


def _chunk_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[int]:
    reads: Counter[int] = Counter()
    real_job = ChunkDecodeReader._chunk_job

    def counted(self: ChunkDecodeReader, chunk: int):  # type: ignore[no-untyped-def]
        if self._dataset.name == "/x":
            reads[chunk] += 1
        return real_job(self, chunk)

    monkeypatch.setattr(ChunkDecodeReader, "_chunk_job", counted)
    return reads


def test_every_row_once_per_epoch_in_a_new_order(data_file: Path):
    sequence = ArraySequence(
        HDF5Matrix(data_file, "x"), HDF5Matrix(data_file, "y"), batch_size=32, shuffle="chunks", seed=3
    )
    first = _epoch(sequence)
    sequence.on_epoch_end()
    second = _epoch(sequence)
    assert sorted(first.tolist()) == list(range(ROWS)) == sorted(second.tolist())
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, np.arange(ROWS))


def test_each_chunk_is_decompressed_once_per_epoch(data_file: Path, monkeypatch: pytest.MonkeyPatch):
    reads = _chunk_reads(monkeypatch)
    budget = 4 * 4 * CHUNK * ROW_BYTES  # four shares (three windows and decoding) of 4 chunks
    sequence = ArraySequence(
        HDF5Matrix(data_file, "x"),
        HDF5Matrix(data_file, "y"),
        batch_size=20,
        shuffle="chunks",
        seed=0,
        shuffle_buffer_bytes=budget,
    )
    assert sequence._windows is not None
    assert sequence._windows.blocks_per_window == 4
    for _ in range(2):
        _epoch(sequence)
        assert sorted(reads) == list(range(-(-ROWS // CHUNK)))
        assert set(reads.values()) == {1}
        reads.clear()
        sequence.on_epoch_end()


def test_order_is_random_at_two_levels(data_file: Path):
    """Rows of one window come from K random chunks, mixed; windows follow in a random chunk order."""
    budget = 4 * 8 * CHUNK * ROW_BYTES  # windows of 8 chunks = 128 rows
    sequence = ArraySequence(
        HDF5Matrix(data_file, "x"),
        HDF5Matrix(data_file, "y"),
        batch_size=128,
        shuffle="chunks",
        seed=1,
        shuffle_buffer_bytes=budget,
    )
    order = _epoch(sequence)
    first_window = order[:128]
    chunks = set((first_window // CHUNK).tolist())
    assert len(chunks) == 8  # K chunks, every one of their rows
    assert chunks != set(range(8))  # not the first chunks of the file
    runs = np.count_nonzero(np.diff(first_window) == 1)
    assert runs < 32  # rows mixed across the window, not chunk after chunk


def test_aligned_with_the_files_chunks_when_hdf5matrix_starts_mid_chunk(
    data_file: Path, monkeypatch: pytest.MonkeyPatch
):
    reads = _chunk_reads(monkeypatch)
    sequence = ArraySequence(
        HDF5Matrix(data_file, "x", start=5, end=990),
        HDF5Matrix(data_file, "y", start=5, end=990),
        batch_size=50,
        shuffle="chunks",
        shuffle_buffer_bytes=4 * 2 * CHUNK * ROW_BYTES,
    )
    rows = _epoch(sequence)
    assert sorted(rows.tolist()) == list(range(5, 990))
    assert set(reads.values()) == {1}


def test_shuffle_true_picks_chunks_for_compressed_data_only(data_file: Path):
    compressed = ArraySequence(HDF5Matrix(data_file, "x"), batch_size=10, shuffle=True)
    with h5py.File(data_file, "r") as file:
        raw = ArraySequence(file["x"], batch_size=10, shuffle=True)
        assert raw._windows is not None
        assert sorted(np.concatenate([raw[i][0][:, 0] for i in range(len(raw))]).tolist()) == list(
            range(ROWS)
        )
    plain = ArraySequence(HDF5Matrix(data_file, "x_plain"), batch_size=10, shuffle=True)
    in_memory = ArraySequence(np.zeros((ROWS, 2)), batch_size=10, shuffle=True)
    assert compressed._windows is not None
    assert plain._windows is None
    assert in_memory._windows is None


def test_chunks_on_in_memory_arrays_uses_batch_sized_blocks():
    x = np.arange(ROWS, dtype=np.int64)
    sequence = ArraySequence(x, x, batch_size=25, shuffle="chunks", seed=2)
    rows = np.concatenate([sequence[i][0] for i in range(len(sequence))])
    assert sorted(rows.tolist()) == list(range(ROWS))


def test_pickled_copy_gives_the_same_batches(data_file: Path):
    sequence = ArraySequence(
        HDF5Matrix(data_file, "x"), HDF5Matrix(data_file, "y"), batch_size=64, shuffle="chunks", seed=5
    )
    copy = pickle.loads(pickle.dumps(sequence))
    for index in (0, 7, len(sequence) - 1):
        assert np.array_equal(sequence[index][1], copy[index][1])


@pytest.mark.parametrize("budget", [-1.5, "1GB", True])
def test_bad_shuffle_buffer_bytes(budget: object):
    with pytest.raises(ValueError, match="shuffle_buffer_bytes"):
        ArraySequence(np.zeros((4, 1)), batch_size=2, shuffle="chunks", shuffle_buffer_bytes=budget)  # type: ignore[arg-type]
