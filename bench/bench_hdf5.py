"""Benchmark of HDF5Matrix / ArraySequence / OrderedEnqueuer against Keras 3 and plain h5py.

    .venv/bin/python bench/bench_hdf5.py [--small]

(a) `model.predict` over a 1 GiB HDF5 dataset: `ArraySequence(HDF5Matrix)` vs
    Keras 3 given the raw `h5py.Dataset` (which it loads into memory). Each run
    is a fresh subprocess; wall time of the predict call and peak growth of
    anonymous memory (RssAnon). Targets: growth <= 256 MiB, time <= 1.2x Keras 3's.
(b) Random-row batches of 256 (and 4096) from a 1 GiB dataset, contiguous and
    chunked: `HDF5Matrix[indices in any order]` vs h5py fancy indexing with sorted
    indices. Targets: >= 5x faster contiguous, >= 2x chunked.
(d) Shuffled 256-row batches from a gzip and an lzf file (`--compressed-mib`,
    2048 for the 2 GiB of the target): `ArraySequence(shuffle='chunks')` vs
    sequential h5py, today's random-row path, tf.data; (d2) the order's quality.
    See bench/_hdf5_shuffle.py.
(c) `OrderedEnqueuer` throughput, 1 and 2 workers, threads vs processes, on a
    sequence whose `__getitem__` is CPU-bound Python.

The files are written under /tmp and deleted afterwards. `--small` uses 64 MiB
files and fewer batches, for a quick check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _hdf5_shuffle import bench_compressed_shuffle
from _rss import PeakRssAnon
from _table import best_time, print_table

from kutils import ArraySequence, HDF5Matrix, OrderedEnqueuer, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

GIB = 1 << 30
PREDICT_COLUMNS = 512
RANDOM_COLUMNS = 128
PREDICT_BATCH = 4096


def _write(path: Path, name: str, rows: int, columns: int, chunks: tuple[int, int] | None) -> None:
    """Writes a float32 dataset of random values block by block (bounded memory)."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "a") as file:
        dataset = file.create_dataset(name, shape=(rows, columns), dtype="float32", chunks=chunks)
        step = max(1, (64 << 20) // (columns * 4))
        for start in range(0, rows, step):
            stop = min(rows, start + step)
            dataset[start:stop] = rng.standard_normal((stop - start, columns), dtype=np.float32)


# -- (a) predict over a large file, one subprocess per contender --------------------------------------------


def _predict_child(path: str, contender: str) -> None:
    """Runs in a subprocess: one timed `model.predict`, prints JSON {seconds, growth_mib, rows}."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((PREDICT_COLUMNS,)), keras.layers.Dense(16), keras.layers.Dense(1)])
    model.predict(np.zeros((PREDICT_BATCH, PREDICT_COLUMNS), np.float32), batch_size=PREDICT_BATCH, verbose=0)
    with h5py.File(path, "r") as file, PeakRssAnon() as peak:
        started = time.perf_counter()
        if contender == "kutils":
            output = model.predict(ArraySequence(HDF5Matrix(path, "x"), batch_size=PREDICT_BATCH), verbose=0)
        else:
            output = model.predict(file["x"], batch_size=PREDICT_BATCH, verbose=0)
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "growth_mib": peak.growth / 2**20, "rows": len(output)}))


def _run_predict(path: Path, contender: str) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--predict-child", str(path), contender],
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_predict(folder: Path, size: int) -> None:
    path = folder / "predict.h5"
    rows = size // (PREDICT_COLUMNS * 4)
    _write(path, "x", rows, PREDICT_COLUMNS, chunks=None)
    try:
        keras3 = _run_predict(path, "keras")
        ours = _run_predict(path, "kutils")
    finally:
        path.unlink()
    table = [
        [
            name,
            result["seconds"],
            result["growth_mib"],
            result["seconds"] / keras3["seconds"],
        ]
        for name, result in (
            ("Keras 3, raw h5py.Dataset", keras3),
            ("kutils ArraySequence(HDF5Matrix)", ours),
        )
    ]
    print_table(
        f"(a) model.predict over {size / GIB:.2g} GiB ({rows} x {PREDICT_COLUMNS} float32, contiguous), "
        f"batch {PREDICT_BATCH}; target: growth <= 256 MiB, time <= 1.2x Keras 3",
        ["contender", "wall s", "peak RssAnon growth MiB", "time vs Keras 3"],
        table,
    )


# -- (b) random rows -----------------------------------------------------------------------------------------


def _time_batches(read: Callable[[np.ndarray], object], index_sets: list[np.ndarray]) -> float:
    """Best time per batch of reading every index set once, over 3 tries."""
    return best_time(lambda: [read(rows) for rows in index_sets], repeat=3) / len(index_sets)


def bench_random_rows(folder: Path, size: int, batches: int) -> None:
    path = folder / "random.h5"
    rows = size // (RANDOM_COLUMNS * 4)
    layouts = {"contiguous": None, "chunked (256 rows)": (256, RANDOM_COLUMNS)}
    for name, chunks in layouts.items():
        _write(path, name, rows, RANDOM_COLUMNS, chunks)
    rng = np.random.default_rng(1)
    table = []
    try:
        with h5py.File(path, "r") as file:
            for name in layouts:
                dataset, matrix = file[name], HDF5Matrix(path, name)
                dataset[:]  # both read from a warm page cache
                for batch in (256, 4096):
                    index_sets = [rng.choice(rows, batch, replace=False) for _ in range(batches)]
                    first = index_sets[0]
                    assert np.array_equal(
                        matrix[first], dataset[np.sort(first)][np.argsort(np.argsort(first))]
                    )
                    ours = _time_batches(lambda rows, matrix=matrix: matrix[rows], index_sets)
                    theirs = _time_batches(lambda rows, dataset=dataset: dataset[np.sort(rows)], index_sets)
                    table.append([name, batch, theirs * 1e3, ours * 1e3, theirs / ours])
                matrix.close()
    finally:
        path.unlink()
    print_table(
        f"(b) random-row batches from {size / GIB:.2g} GiB ({rows} x {RANDOM_COLUMNS} float32); "
        "target: >= 5x contiguous, >= 2x chunked (batch 256)",
        ["layout", "batch", "h5py sorted fancy ms", "HDF5Matrix any order ms", "speedup"],
        table,
    )


# -- (c) OrderedEnqueuer throughput -------------------------------------------------------------------------


def _cpu_heavy(seed: int) -> float:
    total = 0
    for value in range(seed, seed + 600_000):
        total += value * value % 7
    return float(total)


class CpuHeavySequence(Sequence):
    """Batches computed by pure Python arithmetic (holds the GIL): only processes run them in parallel."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> np.ndarray:
        return np.full((32, 8), _cpu_heavy(index), dtype=np.float32)


def bench_enqueuer(batches: int) -> None:
    sequence = CpuHeavySequence(batches + 1)
    single = best_time(lambda: sequence[0], repeat=3)
    table = []
    baseline = None
    for use_multiprocessing in (False, True):
        for workers in (1, 2):
            enqueuer = OrderedEnqueuer(sequence, use_multiprocessing=use_multiprocessing)
            enqueuer.start(workers=workers, max_queue_size=8)
            output = enqueuer.get()
            next(output)  # excludes worker start-up
            started = time.perf_counter()
            for _ in range(batches):
                next(output)
            rate = batches / (time.perf_counter() - started)
            enqueuer.stop()
            baseline = baseline or rate
            kind = "processes" if use_multiprocessing else "threads"
            table.append([kind, workers, rate, rate / baseline])
    print_table(
        f"(c) OrderedEnqueuer, CPU-bound __getitem__ ({single * 1e3:.3g} ms per batch alone), "
        f"{batches} batches, {os.cpu_count()} CPUs",
        ["workers are", "workers", "batches/s", "vs 1 thread"],
        table,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="64 MiB files and fewer batches (quick check)")
    parser.add_argument(
        "--compressed-mib", type=int, default=512, help="size of the gzip and lzf files of (d) (2048: 2 GiB)"
    )
    parser.add_argument("--only-compressed", action="store_true", help="run (d) and (d2) only")
    parser.add_argument(
        "--compressed-batches", type=int, default=400, help="batches timed per contender in (d)"
    )
    parser.add_argument("--no-tf", action="store_true", help="leave the tf.data peer out of (d)")
    parser.add_argument("--predict-child", nargs=2, metavar=("PATH", "CONTENDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.predict_child:
        _predict_child(*args.predict_child)
        return
    compressed = (64 << 20) if args.small else args.compressed_mib << 20
    bench_compressed_shuffle(
        compressed,
        batches=60 if args.small else args.compressed_batches,
        random_batches=2 if args.small else 4,
        with_tf=not args.no_tf,
    )
    if args.only_compressed:
        return
    size = (64 << 20) if args.small else GIB
    with tempfile.TemporaryDirectory(prefix="kutils-bench-hdf5-", dir="/tmp") as folder:
        bench_predict(Path(folder), size)
        bench_random_rows(Path(folder), size, batches=20 if args.small else 50)
    bench_enqueuer(batches=16 if args.small else 40)


if __name__ == "__main__":
    main()
