"""distributed_fit on 1, 2 and 4 loopback workers (MultiWorkerMirroredStrategy, CPU), HDF5 input.

    python bench/bench_distribute.py            # all tables (several minutes)
    python bench/bench_distribute.py --quick    # 1 and 2 workers only

Two setups, each trained from an `HDF5Matrix` with global batches of
`BATCH` rows, one warm-up epoch then one timed epoch:

- read-bound: gzip-compressed rows in 64-row chunks, rows shuffled (each
  random row decompresses its chunk), a small model: reading a batch costs
  more than training on it;
- compute-bound: uncompressed rows, a wide model.

Per setup: rows and bytes each worker read in the timed epoch (target:
total / workers), samples/s against 1 worker, and the peer: one process,
`MirroredStrategy` over as many logical CPU devices, Keras 3 `model.fit` on
an `ArraySequence` of the same file. The overlap table times, for 1 worker,
reading alone, training on in-memory arrays alone, and `distributed_fit`
reading from the file: with reads in the background the epoch takes about
the longer of the two, not their sum. The restart table: 2 workers, backups
every 4 steps, worker 1 SIGKILLed mid-run, the pair restarted; time lost =
(run until the kill + failure detection + resumed run) - uninterrupted run.

Every worker process gets one intra-op and one inter-op thread, so N workers
use about N cores; on a machine with fewer free cores the speed-ups flatten
(the table prints the core count).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _ports import free_ports
from _table import print_table

ROWS, FEATURES, CLASSES, BATCH, SEED = 8192, 512, 10, 256, 7
SETUPS = {
    "read-bound": {"compression": "gzip", "shuffle": True, "hidden": 32},
    "compute-bound": {"compression": None, "shuffle": False, "hidden": 1536},
}
TIMEOUT = 600


def _write_data(directory: Path) -> dict[str, Path]:
    import h5py
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((ROWS, FEATURES)).astype("float32")
    y = np.eye(CLASSES, dtype="float32")[rng.integers(CLASSES, size=ROWS)]
    paths = {}
    for name, setup in SETUPS.items():
        path = directory / f"{name}.h5"
        with h5py.File(path, "w") as file:
            if setup["compression"]:
                file.create_dataset("x", data=x, chunks=(64, FEATURES), compression=setup["compression"])
            else:
                file.create_dataset("x", data=x)
            file.create_dataset("y", data=y)
        paths[name] = path
    return paths


# ----------------------------------------------------------------------------- worker side


def _limit_threads(tf: Any) -> None:
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _build(keras: Any, hidden: int) -> Any:
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="categorical_crossentropy")
    return model


def _timer(keras: Any) -> Any:
    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.seconds.append(time.perf_counter() - self.started)

    return EpochTimer()


def _counting_matrix(path: str, name: str) -> Any:
    from kutils import HDF5Matrix

    class CountedMatrix(HDF5Matrix):
        """Counts the rows (and so bytes) read through HDF5Matrix's own reader."""

        rows_read = 0

        def __getitem__(self, key: Any) -> Any:
            rows = super().__getitem__(key)
            self.rows_read += len(rows)
            return rows

    return CountedMatrix(path, name)


def _worker(setup: str, path: str, out: str, extra: dict[str, Any]) -> None:
    """One MultiWorkerMirroredStrategy worker (TF_CONFIG set by the parent)."""
    import tensorflow as tf

    _limit_threads(tf)
    import keras

    from kutils import distributed_fit

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        model = _build(keras, SETUPS[setup]["hidden"])
    x, y = _counting_matrix(path, "x"), _counting_matrix(path, "y")
    timer = _timer(keras)
    callbacks: list[Any] = [timer]
    if extra.get("pause_at_step") and strategy.cluster_resolver.task_id == 1:
        callbacks.append(_pause(keras, extra["pause_at_step"], Path(out).with_suffix(".ready")))
    counted: list[int] = []
    epochs = extra.get("epochs", 2)

    class CountAfterWarmUp(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            counted[:] = [x.rows_read, y.rows_read]

    distributed_fit(
        model,
        x,
        y,
        strategy=strategy,
        batch_size=BATCH,
        epochs=epochs,
        shuffle=SETUPS[setup]["shuffle"],
        seed=SEED,
        verbose=0,
        callbacks=[*callbacks, CountAfterWarmUp()],
        backup_dir=extra.get("backup_dir"),
        save_freq=extra.get("save_freq", "epoch"),
    )
    rows = [x.rows_read - counted[0], y.rows_read - counted[1]]
    result = {
        "epoch_seconds": timer.seconds,
        "rows_read": rows,
        "bytes_read": rows[0] * FEATURES * 4 + rows[1] * CLASSES * 4,
    }
    Path(out).write_text(json.dumps(result))
    os._exit(0)  # skip the runtime's shutdown handshake


def _pause(keras: Any, step: int, ready: Path) -> Any:
    class PauseForKill(keras.callbacks.Callback):
        seen = 0

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            PauseForKill.seen += 1
            if PauseForKill.seen == step:
                ready.write_text("ready")
                time.sleep(TIMEOUT)  # the parent SIGKILLs this process here

    return PauseForKill()


class _View:
    """An array-like over an HDF5Matrix (len, shape, dtype, []) that hides its storage."""

    def __init__(self, matrix: Any) -> None:
        self.matrix, self.shape, self.dtype = matrix, matrix.shape, matrix.dtype

    def __len__(self) -> int:
        return len(self.matrix)

    def __getitem__(self, key: Any) -> Any:
        return self.matrix[key]


def _peer(setup: str, path: str, devices: int, out: str) -> None:
    """One process: MirroredStrategy over `devices` logical CPUs + Keras 3 fit on an ArraySequence."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
    tf.config.threading.set_intra_op_parallelism_threads(devices)
    import keras

    from kutils import ArraySequence, HDF5Matrix

    strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(devices)])
    with strategy.scope():
        model = _build(keras, SETUPS[setup]["hidden"])
    sequence = ArraySequence(
        HDF5Matrix(path, "x"),
        HDF5Matrix(path, "y"),
        batch_size=BATCH,
        shuffle=SETUPS[setup]["shuffle"],
        seed=SEED,
    )
    timer = _timer(keras)
    model.fit(sequence, epochs=2, verbose=0, callbacks=[timer])
    Path(out).write_text(json.dumps({"epoch_seconds": timer.seconds}))


def _overlap(setup: str, path: str, out: str) -> None:
    """1 worker: read-only epoch, compute-only epoch (in-memory arrays), and distributed_fit from the file."""
    import tensorflow as tf

    _limit_threads(tf)
    import keras
    import numpy as np

    from kutils import ArraySequence, HDF5Matrix, distributed_fit

    reader = ArraySequence(  # the same random rows as distributed_fit reads (see _peer)
        _View(HDF5Matrix(path, "x")),
        _View(HDF5Matrix(path, "y")),
        batch_size=BATCH,
        shuffle=SETUPS[setup]["shuffle"],
        seed=SEED,
    )
    started = time.perf_counter()
    in_memory = [reader[i] for i in range(len(reader))]
    read_seconds = time.perf_counter() - started
    x = np.concatenate([batch[0] for batch in in_memory])
    y = np.concatenate([batch[1] for batch in in_memory])
    model = _build(keras, SETUPS[setup]["hidden"])
    timer = _timer(keras)
    distributed_fit(model, x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, callbacks=[timer])
    compute_seconds = timer.seconds[-1]
    model = _build(keras, SETUPS[setup]["hidden"])
    timer = _timer(keras)
    distributed_fit(
        model,
        HDF5Matrix(path, "x"),
        HDF5Matrix(path, "y"),
        batch_size=BATCH,
        epochs=2,
        shuffle=SETUPS[setup]["shuffle"],
        seed=SEED,
        verbose=0,
        callbacks=[timer],
    )
    result = {"read": read_seconds, "compute": compute_seconds, "fit": timer.seconds[-1]}
    Path(out).write_text(json.dumps(result))


# ----------------------------------------------------------------------------- parent side


def _spawn(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _start_workers(
    count: int, setup: str, path: Path, directory: Path, tag: str, extra: dict[str, Any]
) -> tuple[list[subprocess.Popen[bytes]], list[Path]]:
    ports = free_ports(count)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    outs = [directory / f"{tag}-{index}.json" for index in range(count)]
    processes = [
        _spawn(
            ["--worker", setup, str(path), str(out), json.dumps(extra)],
            {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})},
        )
        for index, out in enumerate(outs)
    ]
    return processes, outs


def _run_workers(count: int, setup: str, path: Path, directory: Path) -> list[dict[str, Any]]:
    processes, outs = _start_workers(count, setup, path, directory, f"{setup}-{count}", {})
    for process in processes:
        process.wait(timeout=TIMEOUT)
    return [json.loads(out.read_text()) for out in outs]


def _run_one(args: list[str], out: Path) -> dict[str, Any]:
    _spawn([*args, str(out)]).wait(timeout=TIMEOUT)
    return dict(json.loads(out.read_text()))


def _restart_cost(path: Path, directory: Path) -> list[tuple[str, float]]:
    """Uninterrupted 2-worker run vs one whose worker 1 is SIGKILLed after step 20, then restarted."""
    setup, epochs = "compute-bound", 3
    started = time.perf_counter()
    processes, _ = _start_workers(2, setup, path, directory, "plain", {"epochs": epochs})
    for process in processes:
        process.wait(timeout=TIMEOUT)
    uninterrupted = time.perf_counter() - started

    backup = {"epochs": epochs, "backup_dir": str(directory / "backup"), "save_freq": 4}
    started = time.perf_counter()
    processes, outs = _start_workers(2, setup, path, directory, "killed", {**backup, "pause_at_step": 50})
    ready = outs[1].with_suffix(".ready")
    deadline = time.monotonic() + TIMEOUT
    while not ready.exists() and time.monotonic() < deadline and processes[1].poll() is None:
        time.sleep(0.05)
    killed_at = time.perf_counter()
    processes[1].send_signal(signal.SIGKILL)
    processes[0].wait(timeout=TIMEOUT)
    processes[1].wait(timeout=TIMEOUT)
    detected = time.perf_counter() - killed_at
    processes, _ = _start_workers(2, setup, path, directory, "resumed", backup)
    for process in processes:
        process.wait(timeout=TIMEOUT)
    interrupted = time.perf_counter() - started
    return [
        ("uninterrupted run (3 epochs, 2 workers)", uninterrupted),
        ("killed at step 50 of 96, failure noticed after", detected),
        ("killed + restarted run, total", interrupted),
        ("time lost to the kill and restart", interrupted - uninterrupted),
    ]


def main(quick: bool) -> None:
    counts = [1, 2] if quick else [1, 2, 4]
    with tempfile.TemporaryDirectory(prefix="kutils-bench-distribute-") as name:
        directory = Path(name)
        paths = _write_data(directory)
        for setup, path in paths.items():
            rows = []
            base = None
            for count in counts:
                results = _run_workers(count, setup, path, directory)
                seconds = max(result["epoch_seconds"][-1] for result in results)
                rate = ROWS / seconds
                base = base or rate
                peer = _run_one(
                    ["--peer", setup, str(path), str(count)], directory / f"peer-{setup}-{count}.json"
                )
                peer_rate = ROWS / peer["epoch_seconds"][-1]
                per_worker = [result["bytes_read"] for result in results]
                rows.append(
                    (
                        count,
                        f"{max(per_worker) / 2**20:.2f} MiB",
                        f"{max(per_worker) * count / sum(per_worker):.2f}",
                        round(rate),
                        rate / base,
                        round(peer_rate),
                        rate / peer_rate,
                    )
                )
            print_table(
                f"{setup}: {ROWS} rows x {FEATURES} float32 (+{CLASSES} targets), batch {BATCH}, "
                f"MLP {SETUPS[setup]['hidden']}x2, {os.cpu_count()} cores",
                [
                    "workers",
                    "bytes read / worker",
                    "max worker / (total/N)",
                    "samples/s",
                    "vs 1 worker",
                    "peer samples/s (Mirrored + fit)",
                    "vs peer",
                ],
                rows,
            )
        overlap_rows = []
        for setup, path in paths.items():
            result = _run_one(["--overlap", setup, str(path)], directory / f"overlap-{setup}.json")
            overlap_rows.append(
                (
                    setup,
                    result["read"],
                    result["compute"],
                    result["read"] + result["compute"],
                    result["fit"],
                    result["fit"] / max(result["read"], result["compute"]),
                )
            )
        print_table(
            "read/compute overlap, 1 worker, seconds per epoch (target: fit ~ max(read, compute))",
            ["setup", "read only", "compute only", "sum", "distributed_fit", "fit / max"],
            overlap_rows,
        )
        print_table(
            "kill and restart (2 workers, compute-bound, backups every 4 steps)",
            ["what", "seconds"],
            _restart_cost(paths["compute-bound"], directory),
        )


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "--worker":
        _worker(sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5]))
    elif mode == "--peer":
        _peer(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif mode == "--overlap":
        _overlap(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main(quick=mode == "--quick")
