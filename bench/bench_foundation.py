"""Benchmark of the foundation: `import kutils`, `to_categorical` and `normalize` against Keras 3.

    .venv/bin/python bench/bench_foundation.py

Targets: `import kutils` <= 0.3 s and <= 70 MB peak RSS; to_categorical within 1.3x of
writing its float32 output once (`np.ones` of the same shape); normalize within 1.3x of
one copy pass over x (`x.copy()`). kutils works in cache-sized row blocks on every core
the process may use (kutils/_row_blocks.py); the "one thread" rows show the same code
held to one core.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import best_time, print_table

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

REPO = Path(__file__).resolve().parent.parent

# Runs one import in a fresh interpreter; prints its time and the process's peak RSS.
_IMPORT_PROBE = """
import json, resource, sys, time
started = time.perf_counter()
__import__(sys.argv[1])
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CATEGORICAL_CASES = [(1_000_000, 10), (200_000, 100), (20_000, 1000)]
NORMALIZE_SHAPE = (1_000_000, 64)


@contextmanager
def _one_thread() -> Iterator[None]:
    """kutils' row-block work held to the calling thread, for the "one thread" rows."""
    from kutils import _row_blocks

    usable_cores = _row_blocks._usable_cores
    _row_blocks._usable_cores = lambda: 1
    try:
        yield
    finally:
        _row_blocks._usable_cores = usable_cores


def _one_thread_time(fn: Callable[[], object]) -> float:
    with _one_thread():
        return best_time(fn, repeat=7)


def _import_cost(module: str, runs: int) -> tuple[float, float, float]:
    """Best import time, best process wall time and lowest peak RSS (MB) of `import module`, fresh runs."""
    best_import = best_wall = best_rss = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        probe = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE, module],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        best_wall = min(best_wall, time.perf_counter() - started)
        result = json.loads(probe.stdout.strip().splitlines()[-1])
        best_import = min(best_import, result["seconds"])
        best_rss = min(best_rss, result["rss_mb"])
    return best_import, best_wall, best_rss


def bench_import() -> None:
    rows = []
    baseline = _import_cost("sys", runs=5)
    for module, runs in [("kutils", 7), ("keras.utils", 3)]:
        seconds, wall, rss = _import_cost(module, runs)
        rows.append([f"import {module}", seconds, wall, rss, rss - baseline[2]])
    kutils_row, keras_row = rows
    rows.append(["keras.utils / kutils", keras_row[1] / kutils_row[1], keras_row[2] / kutils_row[2], "", ""])
    print_table(
        "Import cost, fresh interpreter each run (target: kutils <= 0.3 s, <= 70 MB peak RSS)",
        ["what", "import s", "process wall s", "peak RSS MB", "RSS over bare python MB"],
        rows,
    )


def bench_to_categorical(keras: ModuleType) -> None:
    from kutils import to_categorical

    rng = np.random.default_rng(0)
    rows = []
    for n, classes in CATEGORICAL_CASES:
        labels = rng.integers(0, classes, n)
        np.testing.assert_array_equal(
            to_categorical(labels, classes), keras.utils.to_categorical(labels, classes)
        )
        ours = best_time(lambda labels=labels, c=classes: to_categorical(labels, c), repeat=7)
        single = _one_thread_time(lambda labels=labels, c=classes: to_categorical(labels, c))
        floor = best_time(lambda shape=(n, classes): np.ones(shape, dtype=np.float32), repeat=7)
        theirs = best_time(lambda labels=labels, c=classes: keras.utils.to_categorical(labels, c), repeat=7)
        rows.append(
            [
                f"{n:,} x {classes}",
                ours * 1e3,
                floor * 1e3,
                theirs * 1e3,
                ours / floor,
                single / floor,
                theirs / ours,
            ]
        )
    print_table(
        "to_categorical, float32 output (target: kutils / np.ones <= 1.3)",
        [
            "labels x classes",
            "kutils ms",
            "np.ones ms",
            "Keras 3 ms",
            "kutils / np.ones",
            "one thread / np.ones",
            "Keras 3 / kutils",
        ],
        rows,
    )


def bench_normalize(keras: ModuleType) -> None:
    from kutils import normalize

    x = np.random.default_rng(0).standard_normal(NORMALIZE_SHAPE).astype(np.float32)
    np.testing.assert_allclose(normalize(x), keras.utils.normalize(x), rtol=1e-5, atol=1e-6)
    buffer = np.empty_like(x)
    ours = best_time(lambda: normalize(x), repeat=7)
    single = _one_thread_time(lambda: normalize(x))
    copy = best_time(x.copy, repeat=7)
    fresh_pass = best_time(lambda: np.multiply(x, 1.0, out=np.empty_like(x)), repeat=7)
    warm_pass = best_time(lambda: np.multiply(x, 1.0, out=buffer), repeat=7)
    theirs = best_time(lambda: keras.utils.normalize(x), repeat=7)
    rows = [
        ["kutils normalize", ours * 1e3, 1.0],
        ["kutils normalize, one thread", single * 1e3, ours / single],
        ["x.copy() (read+write, fresh output)", copy * 1e3, ours / copy],
        ["np.multiply(x, 1.0, out=np.empty_like(x))", fresh_pass * 1e3, ours / fresh_pass],
        ["np.multiply(x, 1.0, out=buf) (buffer reused)", warm_pass * 1e3, ours / warm_pass],
        ["Keras 3 keras.utils.normalize", theirs * 1e3, ours / theirs],
    ]
    print_table(
        f"normalize {NORMALIZE_SHAPE[0]:,} x {NORMALIZE_SHAPE[1]} float32, axis=-1, order=2 "
        "(target: kutils / x.copy() <= 1.3)",
        ["what", "ms", "kutils / this"],
        rows,
    )


def main() -> None:
    """Prints the import, to_categorical and normalize tables."""
    bench_import()
    import keras

    bench_to_categorical(keras)
    bench_normalize(keras)


if __name__ == "__main__":
    main()
