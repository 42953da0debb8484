"""Benchmark of process workers with large batches: shared-memory slots vs the pipe.

    .venv/bin/python bench/bench_enqueuers.py [--small] [--batches N]

Batches of 256x224x224x3 uint8 (38 MB). Each configuration runs in a fresh
subprocess (`KUTILS_SHARED_MEMORY=0` there selects the pipe path, kutils'
transport before shared memory); times start after the first batch, so the
workers' start-up is not counted.

(a) OrderedEnqueuer throughput with a CPU-heavy `__getitem__` (a Python loop,
    then filling the batch): 1 and 2 workers, shared memory and pipe. Target:
    2 workers >= 1.7x one worker (2 cores).
(b) Transfer cost per batch: the transport's send + rebuild of one batch in
    one process, against one `np.copyto` of the batch (target: shared memory
    <= 2x one memcpy); and the median wait for a batch from 1 worker whose
    `__getitem__` only returns a ready batch.
(c) Memory: peak growth of the parent's RSS (anonymous + shared pages) during
    (a) with 2 workers, against the ring's budget (slots x 1.25 x batch).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table

SHAPE = (256, 224, 224, 3)
SMALL_SHAPE = (64, 224, 224, 3)


def _rss_bytes() -> int:
    """RSS (anonymous + file + shared memory pages) of this process."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _PeakRss:
    def __init__(self) -> None:
        self.start = self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss_bytes())

    def growth(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak - self.start


def _child(kind: str, workers: int, batches: int, small: bool) -> None:
    """Runs in a subprocess: prints JSON {seconds_per_batch, rss_growth}."""
    from kutils import OrderedEnqueuer, Sequence

    shape = SMALL_SHAPE if small else SHAPE

    class Heavy(Sequence):
        def __len__(self) -> int:
            return 10**6

        def __getitem__(self, index: int) -> np.ndarray:
            total = 0
            for value in range(1_500_000 if not small else 300_000):  # CPU-bound Python
                total += value ^ index
            return np.full(shape, total % 251, dtype=np.uint8)

    class Ready(Sequence):
        def __init__(self) -> None:
            self.batch = np.ones(shape, dtype=np.uint8)

        def __len__(self) -> int:
            return 10**6

        def __getitem__(self, index: int) -> np.ndarray:
            self.batch[0, 0, 0, 0] = index % 251
            return self.batch

    sequence = Heavy() if kind == "heavy" else Ready()
    enqueuer = OrderedEnqueuer(sequence, use_multiprocessing=True)
    enqueuer.start(workers=workers, max_queue_size=4)
    output = enqueuer.get()
    first = next(output)
    del first
    peak = _PeakRss()
    waits = []
    started = time.perf_counter()
    for _ in range(batches):
        waited = time.perf_counter()
        batch = next(output)
        waits.append(time.perf_counter() - waited)
        assert batch.shape == shape
        del batch
    seconds = (time.perf_counter() - started) / batches
    growth = peak.growth()
    enqueuer.stop()
    print(
        json.dumps(
            {"seconds_per_batch": seconds, "median_wait": float(np.median(waits)), "rss_growth": growth}
        )
    )


def _run(kind: str, workers: int, batches: int, shared: bool, small: bool) -> dict[str, float]:
    env = {**os.environ, "KUTILS_SHARED_MEMORY": "1" if shared else "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = [sys.executable, __file__, "--child", kind, str(workers), str(batches)] + (
        ["--small"] if small else []
    )
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=1200, check=False)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _best(run: Callable[[], object]) -> float:
    run()
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def _transport_seconds(shape: tuple[int, ...]) -> dict[str, float]:
    """CPU cost of each transport for one batch, in this process: what the worker does to send it plus
    what the parent does to rebuild it (pipe: the pickle and unpickle copies; the pipe itself not counted)."""
    from kutils import _shm

    source = np.ones(shape, dtype=np.uint8)
    target = np.empty_like(source)

    def shared() -> None:
        body, placement = _shm.dumps(source)
        assert placement is not None
        _shm.loads(body, placement)  # dropped at once: the slot is free for the next round

    def pipe() -> None:
        pickle.loads(pickle.dumps(source, protocol=pickle.HIGHEST_PROTOCOL))

    costs = {"memcpy": _best(lambda: np.copyto(target, source)), "shared": _best(shared), "pipe": _best(pipe)}
    _shm.remove_segments_of([os.getpid()])
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="batches of 64 images and less CPU work")
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]), int(args.child[2]), args.small)
        return
    shape = SMALL_SHAPE if args.small else SHAPE
    megabytes = int(np.prod(shape)) / 1e6
    from kutils import _shm

    heavy = {
        (shared, workers): _run("heavy", workers, args.batches, shared, args.small)
        for shared in (True, False)
        for workers in (1, 2)
    }
    table = []
    for shared in (True, False):
        one = heavy[(shared, 1)]["seconds_per_batch"]
        for workers in (1, 2):
            seconds = heavy[(shared, workers)]["seconds_per_batch"]
            table.append(
                ["shared memory" if shared else "pipe (before)", workers, 1 / seconds, one / seconds]
            )
    print_table(
        f"(a) OrderedEnqueuer, processes, CPU-heavy __getitem__, {megabytes:.0f} MB uint8 batches {shape}, "
        f"{args.batches} batches, {os.cpu_count()} CPUs; target: 2 workers >= 1.7x one",
        ["transport", "workers", "batches/s", "vs 1 worker"],
        table,
    )
    costs = _transport_seconds(shape)
    ready = {shared: _run("ready", 1, args.batches * 2, shared, args.small) for shared in (True, False)}
    memcpy = costs["memcpy"]
    print_table(
        f"(b) transfer cost per {megabytes:.0f} MB batch: send + rebuild in one process (best of 5), and the "
        "median wait for a batch from 1 worker whose __getitem__ only returns a ready batch; one np.copyto "
        f"of the batch: {memcpy * 1e3:.3g} ms; target: shared memory <= 2x memcpy",
        ["transport", "send + rebuild ms", "x memcpy", "median wait ms (1 worker)"],
        [
            [
                "shared memory",
                costs["shared"] * 1e3,
                costs["shared"] / memcpy,
                ready[True]["median_wait"] * 1e3,
            ],
            ["pipe (before)", costs["pipe"] * 1e3, costs["pipe"] / memcpy, ready[False]["median_wait"] * 1e3],
        ],
    )
    slot = 1.25 * megabytes
    budget = 2 * _shm.SLOTS_PER_WORKER * slot
    print_table(
        f"(c) parent's peak RSS growth during (a), 2 workers; ring budget: 2 workers x "
        f"{_shm.SLOTS_PER_WORKER} slots x {slot:.0f} MB = {budget:.0f} MB "
        f"(at most {_shm.BUDGET_BYTES_PER_WORKER >> 20} MiB per worker)",
        ["transport", "RSS growth MB", "vs budget"],
        [
            [name, heavy[(shared, 2)]["rss_growth"] / 1e6, heavy[(shared, 2)]["rss_growth"] / 1e6 / budget]
            for name, shared in (("shared memory", True), ("pipe (before)", False))
        ],
    )


if __name__ == "__main__":
    main()
