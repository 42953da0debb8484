"""(d) of bench_hdf5.py: shuffled 256-row batches from a compressed HDF5 file, and the order's quality.

Contenders, each reading `batches` batches of 256 rows (x: uint8 rows of
64x64x3, chunks of 256 rows) from a gzip and an lzf file written once under
/tmp (kept between runs: delete /tmp/kutils-bench-compressed-* to rewrite):

- h5py sequential: `dataset[i*256:(i+1)*256]`, the floor (not shuffled);
- kutils `ArraySequence(HDF5Matrix, shuffle='chunks')` (what `shuffle=True` picks there);
- today's random-row path: h5py fancy indexing with sorted random indices (what
  kutils did for `shuffle=True` before, and the h5py peer);
- `HDF5Matrix[random rows]`: the full shuffle through kutils' parallel chunk decoder;
- `tf.data.Dataset.from_generator` over h5py rows read in order, `.shuffle(buffer)`
  with the same number of rows as one kutils window, `.batch(256)`.

The order's quality is measured on whole epochs of row indices (no file).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import h5py
import numpy as np
from _rss import PeakRssAnon
from _table import print_table

from kutils import ArraySequence, HDF5Matrix

BATCH = 256
ROW_SHAPE = (64, 64, 3)
ROW_BYTES = int(np.prod(ROW_SHAPE))
MIB = 1 << 20
BUDGET = 256 * MIB


def _write_once(size: int, compression: str) -> Path:
    path = Path(f"/tmp/kutils-bench-compressed-{size // MIB}mib-{compression}.h5")
    if path.exists():
        return path
    rows = size // ROW_BYTES
    rng = np.random.default_rng(0)
    blocks = np.add.outer(np.arange(64) // 8, np.arange(64) // 8) * 8  # smooth 8x8 blocks, like an image
    pattern = (blocks[:, :, None] + np.array([0, 30, 60])).astype(np.uint8)
    partial = path.with_suffix(".partial")
    with h5py.File(partial, "w") as file:
        dataset = file.create_dataset(
            "x", shape=(rows, *ROW_SHAPE), dtype=np.uint8, chunks=(BATCH, *ROW_SHAPE), compression=compression
        )
        step = BATCH * 32
        for start in range(0, rows, step):
            stop = min(rows, start + step)
            count = stop - start
            brightness = rng.integers(0, 64, size=(count, 1, 1, 1), dtype=np.uint8)
            noise = rng.integers(0, 4, size=(count, *ROW_SHAPE), dtype=np.uint8)
            noise[rng.random((count, *ROW_SHAPE)) < 0.9] = 0  # sparse noise: gzip about 4:1, lzf 2:1
            dataset[start:stop] = pattern + brightness + noise
    partial.rename(path)
    return path


def _rate(read_batches: Callable[[], Iterator[np.ndarray]]) -> float:
    """Uncompressed MB/s of reading the batches `read_batches` yields."""
    started = time.perf_counter()
    total = sum(batch.nbytes for batch in read_batches())
    return total / (time.perf_counter() - started) / 1e6


def _tf_rate(path: Path, batches: int, buffer_rows: int) -> float:
    import tensorflow as tf

    def rows() -> Iterator[np.ndarray]:
        with h5py.File(path, "r") as file:
            dataset = file["x"]
            for start in range(0, dataset.shape[0], BATCH):
                yield from dataset[start : start + BATCH]

    spec = tf.TensorSpec(ROW_SHAPE, tf.uint8)
    pipeline = tf.data.Dataset.from_generator(rows, output_signature=spec).shuffle(buffer_rows).batch(BATCH)

    def read() -> Iterator[np.ndarray]:
        for batch in pipeline.take(batches):
            yield batch.numpy()

    return _rate(read)


def _measure(path: Path, batches: int, random_batches: int, with_tf: bool) -> tuple[list[object], int]:
    rng = np.random.default_rng(1)
    with h5py.File(path, "r") as file:
        dataset = file["x"]
        rows = dataset.shape[0]
        batches = min(batches, rows // BATCH)
        sequential = _rate(lambda: (dataset[i * BATCH : (i + 1) * BATCH] for i in range(batches)))
        random_sets = [np.sort(rng.choice(rows, BATCH, replace=False)) for _ in range(random_batches)]
        today = _rate(lambda: (dataset[indices] for indices in random_sets))
    matrix = HDF5Matrix(path, "x")
    sequence = ArraySequence(matrix, batch_size=BATCH, shuffle="chunks", seed=0, shuffle_buffer_bytes=BUDGET)
    assert sequence._windows is not None
    window_rows = sequence._windows.blocks_per_window * BATCH
    with PeakRssAnon() as peak:
        ours = _rate(lambda: (sequence[i][0] for i in range(batches)))
    full = _rate(lambda: (matrix[rng.permutation(rows)[:BATCH]] for _ in range(random_batches)))
    matrix.close()
    tf_rate = _tf_rate(path, min(batches, 100), window_rows) if with_tf else float("nan")
    row = [
        sequential,
        ours,
        ours / sequential,
        today,
        ours / today,
        full,
        tf_rate,
        peak.growth / MIB,
    ]
    return row, window_rows


# -- quality of the order ------------------------------------------------------------------------------------


def _quality(order: np.ndarray, chunk_rows: int) -> list[float]:
    rows = order.size
    steps = np.abs(np.diff(order))
    batches = order[: rows // BATCH * BATCH].reshape(-1, BATCH) // chunk_rows
    distinct = np.mean([np.unique(batch).size for batch in batches])
    position = np.corrcoef(np.arange(rows), order)[0, 1]
    return [
        float(np.median(steps)) / rows,
        float(np.mean(steps < chunk_rows)),
        float(distinct),
        float(position),
    ]


def _tf_order(rows: int, buffer_rows: int) -> np.ndarray:
    import tensorflow as tf

    return np.fromiter(tf.data.Dataset.range(rows).shuffle(buffer_rows, seed=0).as_numpy_iterator(), np.int64)


def bench_order_quality(rows: int, window_chunks: int, with_tf: bool) -> None:
    x = np.zeros((rows, 1), np.uint8)
    rng = np.random.default_rng(0)
    contenders: dict[str, np.ndarray] = {"full shuffle (np.random.permutation)": rng.permutation(rows)}
    for chunks in (window_chunks, 8, 1):
        budget = 4 * chunks * BATCH * 1
        sequence = ArraySequence(x, batch_size=BATCH, shuffle="chunks", seed=0, shuffle_buffer_bytes=budget)
        assert sequence._windows is not None
        contenders[f"kutils 'chunks', K={chunks} chunks"] = sequence._order
    batch_order = ArraySequence(x, batch_size=BATCH, shuffle="batch", seed=0)._order
    contenders["'batch' (Keras 2)"] = np.concatenate(
        [np.arange(b * BATCH, min(rows, (b + 1) * BATCH)) for b in batch_order.tolist()]
    )
    if with_tf:
        contenders[f"tf.data shuffle(buffer={window_chunks * BATCH} rows) of rows read in order"] = _tf_order(
            rows, window_chunks * BATCH
        )
    table = [[name, *_quality(order, BATCH)] for name, order in contenders.items()]
    print_table(
        f"(d2) quality of one epoch's order, {rows} rows, chunks of {BATCH} rows, batches of {BATCH}",
        [
            "order",
            "median |step| / rows (full: 0.29)",
            "P(|step| < chunk)",
            "distinct chunks per batch",
            "corr(position, row) (full: 0)",
        ],
        table,
    )


def bench_compressed_shuffle(size: int, batches: int, random_batches: int, with_tf: bool) -> None:
    """Prints table (d) for a gzip and an lzf file of `size` bytes, and the quality table (d2)."""
    table = []
    window_rows = BATCH
    for compression in ("gzip", "lzf"):
        path = _write_once(size, compression)
        stored = os.path.getsize(path) / MIB
        row, window_rows = _measure(path, batches, random_batches, with_tf)
        table.append([f"{compression} ({stored:.0f} MiB stored)", *row])
    print_table(
        f"(d) shuffled {BATCH}-row batches from {size / MIB:.0f} MiB of uint8 rows {ROW_SHAPE}, chunks of "
        f"{BATCH} rows, {batches} batches ({random_batches} for random paths), uncompressed MB/s, "
        f"{os.cpu_count()} CPUs; budget {BUDGET // MIB} MiB = windows of {window_rows // BATCH} chunks; "
        "targets: chunks >= 0.8x sequential, >= 50x today",
        [
            "file",
            "h5py sequential",
            "kutils 'chunks'",
            "vs sequential",
            "h5py sorted fancy (today)",
            "vs today",
            "HDF5Matrix full shuffle",
            "tf.data shuffle(buffer)",
            "kutils RssAnon growth MiB",
        ],
        table,
    )
    bench_order_quality(size // ROW_BYTES, window_rows // BATCH, with_tf)
