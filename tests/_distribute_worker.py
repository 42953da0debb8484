"""Subprocess side of tests/test_distribute.py; writes its results as JSON.

`python tests/_distribute_worker.py mirrored OUT_DIR`: splits the CPU into 2
logical devices, then compares `distributed_fit` under MirroredStrategy and
the default strategy with Keras `model.fit`, over every kind of input data,
and records the error paths.

`python tests/_distribute_worker.py worker OUT_DIR INDEX PORT0,PORT1 SCENARIO`:
one of two MultiWorkerMirroredStrategy workers on 127.0.0.1. Scenario 'die':
phase 1 trains on counting array-likes (rows read per worker) and on a
Sequence (one whole batch per worker and step); phase 2 trains again with
backups, and worker 1 announces step 7 and waits there for the test to
SIGKILL it, so worker 0 records how (and how fast) it failed. Scenario
'resume': the restarted pair finishes phase 2 from the backup. Scenario
'hang': worker 1 stalls mid-epoch and worker 0 relies on the collective timeout.

`python tests/_distribute_worker.py preempt OUT_DIR` / `... resume_single OUT_DIR`:
one process (default strategy) trains with backups; at step 6 it announces
itself and waits for the test to send SIGTERM; the second run resumes.
"""

from __future__ import annotations

import json
import os
import select
import sys
import threading
import time
from pathlib import Path
from typing import Any

MODE, OUT_DIR = sys.argv[1], Path(sys.argv[2])
if MODE == "worker":
    _INDEX, _PORTS = int(sys.argv[3]), sys.argv[4].split(",")
    os.environ["TF_CONFIG"] = json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{port}" for port in _PORTS]},
            "task": {"type": "worker", "index": _INDEX},
        }
    )

import tensorflow as tf  # noqa: E402

if MODE == "mirrored":
    _CPU = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from kutils import ArraySequence, HDF5Matrix, distributed_fit  # noqa: E402

SAMPLES, BATCH, EPOCHS, SEED = 61, 16, 3, 3  # 61 rows: the last batch (13) splits unevenly
COLLECTIVE_TIMEOUT, HANG_SECONDS, WAIT_FOR_TEST = 15.0, 120.0, 900.0


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SAMPLES, 5))
    y = rng.standard_normal((SAMPLES, 2))
    weights = rng.uniform(0.5, 1.5, SAMPLES)
    return x, y, weights


def build_model(strategy: Any = None) -> Any:
    """The same tiny model and initial weights in every process."""
    with (strategy or tf.distribute.get_strategy()).scope():
        model = keras.Sequential(
            [keras.Input((5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(2)]
        )
        rng = np.random.default_rng(1)
        model.set_weights([rng.standard_normal(w.shape) * 0.3 for w in model.get_weights()])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    return model


def summary(model: Any, history: Any) -> dict[str, Any]:
    return {"weights": [w.tolist() for w in model.get_weights()], "history": history.history}


class RowArray:
    """A generic array-like (len, shape, [], like HDF5Matrix) counting the rows read from it."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.shape = array.shape
        self.rows_read = 0

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, key: Any) -> np.ndarray:
        rows = self.array[key]
        self.rows_read += len(rows)
        return rows


class Batches(keras.utils.PyDataset):
    """A Keras PyDataset of fixed batches (with sample weights if given); records the batches read."""

    def __init__(
        self, x: np.ndarray, y: np.ndarray, weights: Any = None, batch: int = BATCH, **options: Any
    ) -> None:
        super().__init__(**options)
        self.x, self.y, self.weights, self.batch = x, y, weights, batch
        self.epochs_ended = 0
        self.read: list[int] = []
        self.read_event: dict[int, threading.Event] = {}
        self.fail_at: int | None = None

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        if index == self.fail_at:
            raise KeyError(f"batch {index} is corrupt")
        rows = slice(index * self.batch, (index + 1) * self.batch)
        self.read.append(index)
        self.read_event.setdefault(index, threading.Event()).set()
        if self.weights is None:
            return self.x[rows], self.y[rows]
        return self.x[rows], self.y[rows], self.weights[rows]

    def on_epoch_end(self) -> None:
        self.epochs_ended += 1


def error_of(call: Any) -> list[str]:
    try:
        call()
    except Exception as error:  # recorded for the test to check type and message
        return [type(error).__name__, str(error)]
    return ["no error", ""]


def run_mirrored() -> dict[str, Any]:
    x, y, weights = data()
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    fit_options = {"batch_size": BATCH, "epochs": EPOCHS, "verbose": 0}
    results: dict[str, Any] = {"replicas": mirrored.num_replicas_in_sync}

    reference = build_model()
    results["keras_fit"] = summary(reference, reference.fit(x, y, shuffle=False, **fit_options))
    weighted = build_model()
    results["keras_fit_weighted"] = summary(
        weighted, weighted.fit(x, y, sample_weight=weights, shuffle=False, **fit_options)
    )

    runs = {
        "numpy": lambda m: distributed_fit(m, x, y, strategy=mirrored, shuffle=False, **fit_options),
        "array_like": lambda m: distributed_fit(
            m, RowArray(x), RowArray(y), strategy=mirrored, shuffle=False, **fit_options
        ),
        "dataset": lambda m: distributed_fit(
            m,
            tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH),
            strategy=mirrored,
            epochs=EPOCHS,
            verbose=0,
        ),
        "weighted": lambda m: distributed_fit(
            m, x, y, sample_weight=weights, strategy=mirrored, shuffle=False, **fit_options
        ),
    }
    for name, run in runs.items():
        model = build_model(mirrored)
        results[name] = summary(model, run(model))

    model = build_model(mirrored)
    sequence = ArraySequence(x, y, batch_size=BATCH)
    results["array_sequence"] = summary(
        model, distributed_fit(model, sequence, epochs=EPOCHS, shuffle=False, verbose=0)
    )

    with h5py.File(OUT_DIR / "data.h5", "w") as file:
        file["x"], file["y"] = x, y
    model = build_model(mirrored)
    hdf5_x, hdf5_y = HDF5Matrix(str(OUT_DIR / "data.h5"), "x"), HDF5Matrix(str(OUT_DIR / "data.h5"), "y")
    results["hdf5_shuffled"] = summary(
        model, distributed_fit(model, hdf5_x, hdf5_y, seed=SEED, **fit_options)
    )

    sequence = Batches(x, y)
    model = build_model(mirrored)
    results["pydataset"] = summary(
        model, distributed_fit(model, sequence, epochs=EPOCHS, shuffle=False, verbose=0)
    )
    results["pydataset"]["epochs_ended"] = sequence.epochs_ended

    shuffled = {}
    for name, strategy in (("mirrored", mirrored), ("default", tf.distribute.get_strategy())):
        model = build_model(strategy)
        shuffled[name] = summary(model, distributed_fit(model, x, y, seed=SEED, **fit_options))
    results["shuffled"] = shuffled

    model = build_model(mirrored)
    print("PROGRESS-START", flush=True)
    distributed_fit(model, x, y, strategy=mirrored, batch_size=BATCH, epochs=2, verbose=1)
    print("PROGRESS-END", flush=True)

    model = build_model(mirrored)
    stopper = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: setattr(model, "stop_training", True)
    )
    history = distributed_fit(
        model, x, y, validation_data=(x[:20], y[:20]), callbacks=[stopper], epochs=EPOCHS, verbose=0
    )
    single_device = build_model()  # Keras 3.3-3.9 evaluate under a strategy counts one replica only
    single_device.set_weights(model.get_weights())
    results["validation"] = {
        "history": history.history,
        "evaluate": single_device.evaluate(x[:20], y[:20], batch_size=BATCH, verbose=0, return_dict=True),
    }

    results.update(run_fit_arguments(x, y, weights, mirrored))
    results["read_ahead"] = read_ahead(x, y, mirrored)

    outside = build_model()
    uncompiled = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    inside = build_model(mirrored)
    results["errors"] = {
        "uncompiled": error_of(lambda: distributed_fit(uncompiled, x, y, verbose=0)),
        "outside_scope": error_of(lambda: distributed_fit(outside, x, y, strategy=mirrored, verbose=0)),
        "rows_mismatch": error_of(lambda: distributed_fit(inside, x, y[:50], strategy=mirrored, verbose=0)),
        "y_with_dataset": error_of(lambda: distributed_fit(inside, Batches(x, y), y, verbose=0)),
        "no_y": error_of(lambda: distributed_fit(inside, x, verbose=0)),
        "batch_size": error_of(lambda: distributed_fit(inside, x, y, batch_size=0, verbose=0)),
        "not_array": error_of(lambda: distributed_fit(inside, x, {"a": 3}, verbose=0)),
        "not_model": error_of(lambda: distributed_fit("model.h5", x, y, strategy=mirrored, verbose=0)),
        "split_with_sequence": error_of(
            lambda: distributed_fit(inside, Batches(x, y), validation_split=0.2, verbose=0)
        ),
        "split_too_large": error_of(lambda: distributed_fit(inside, x, y, validation_split=0.999, verbose=0)),
        "class_weight_two_outputs": error_of(
            lambda: distributed_fit(two_outputs(mirrored), x, [y, y], class_weight={0: 2.0}, verbose=0)
        ),
        "class_weight_keys": error_of(
            lambda: distributed_fit(inside, x, y, class_weight={"a": 1}, verbose=0)
        ),
        "steps_per_epoch": error_of(lambda: distributed_fit(inside, x, y, steps_per_epoch=0, verbose=0)),
        "validation_freq": error_of(
            lambda: distributed_fit(inside, x, y, validation_data=(x, y), validation_freq=0, verbose=0)
        ),
        "multiprocessing": error_of(
            lambda: distributed_fit(inside, x, y, use_multiprocessing=True, verbose=0)
        ),
        "infinite": error_of(
            lambda: distributed_fit(
                inside, tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).repeat(), verbose=0
            )
        ),
        "save_freq": error_of(
            lambda: distributed_fit(inside, x, y, backup_dir=str(OUT_DIR / "b"), save_freq="often", verbose=0)
        ),
        "failing_batch": error_of(lambda: distributed_fit(inside, failing(x, y), workers=2, verbose=0)),
    }
    return results


def two_outputs(strategy: Any) -> Any:
    with strategy.scope():
        inputs = keras.Input((5,))
        model = keras.Model(inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(2)(inputs)])
        model.compile(optimizer="sgd", loss="mse")
    return model


def failing(x: np.ndarray, y: np.ndarray) -> Batches:
    sequence = Batches(x, y)
    sequence.fail_at = 2
    return sequence


def run_fit_arguments(x: np.ndarray, y: np.ndarray, weights: np.ndarray, strategy: Any) -> dict[str, Any]:
    """Keras 2 fit arguments, each against Keras `model.fit` or an equivalent distributed_fit run."""
    options = {"batch_size": BATCH, "epochs": EPOCHS, "verbose": 0, "shuffle": False}
    split_and_classes = {"validation_split": 0.25, "class_weight": {0: 2.0, 1: 0.5}}
    results: dict[str, Any] = {}
    reference = build_model()
    results["keras_fit_split_classes"] = summary(
        reference, reference.fit(x, y, **split_and_classes, **options)
    )
    model = build_model(strategy)
    results["split_classes"] = summary(model, distributed_fit(model, x, y, **split_and_classes, **options))

    model = build_model(strategy)  # 12 steps as 6 epochs of 2: the data continue across epochs
    history = distributed_fit(model, x, y, steps_per_epoch=2, **{**options, "epochs": 2 * EPOCHS})
    results["steps_per_epoch"] = summary(model, history)

    model = build_model(strategy)
    sequence = Batches(x, y, weights, workers=2)
    results["weighted_sequence"] = summary(
        model, distributed_fit(model, sequence, epochs=EPOCHS, verbose=0, shuffle=False)
    )

    weighted_inputs = {
        "weighted_dataset": tf.data.Dataset.from_tensor_slices((x, y, weights)).batch(BATCH),
        "weighted_array_sequence": ArraySequence(x, y, weights, batch_size=BATCH),
    }
    for name, weighted_input in weighted_inputs.items():
        model = build_model(strategy)
        history = distributed_fit(model, weighted_input, epochs=EPOCHS, verbose=0, shuffle=False)
        results[name] = summary(model, history)

    with h5py.File(OUT_DIR / "chunked.h5", "w") as file:  # 8-row chunks, compressed
        file.create_dataset("x", data=x, chunks=(8, 5), compression="gzip")
        file.create_dataset("y", data=y, chunks=(8, 2), compression="gzip")
    chunked = str(OUT_DIR / "chunked.h5")
    results["chunks"] = {}
    for name, chosen in (("mirrored", strategy), ("default", tf.distribute.get_strategy())):
        sequence = ArraySequence(
            HDF5Matrix(chunked, "x"), HDF5Matrix(chunked, "y"), batch_size=BATCH, shuffle="chunks"
        )
        model = build_model(chosen)
        history = distributed_fit(model, sequence, strategy=chosen, epochs=EPOCHS, seed=SEED, verbose=0)
        results["chunks"][name] = summary(model, history)

    model = build_model(strategy)
    history = distributed_fit(
        model, x, y, validation_data=(x, y), validation_steps=1, validation_freq=[EPOCHS], **options
    )
    single_device = build_model()  # Keras 3.3-3.9 evaluate under a strategy counts one replica only
    single_device.set_weights(model.get_weights())
    results["validation_freq"] = {
        "history": history.history,
        "evaluate": single_device.evaluate(
            x[:BATCH], y[:BATCH], batch_size=BATCH, verbose=0, return_dict=True
        ),
    }
    return results


def read_ahead(x: np.ndarray, y: np.ndarray, strategy: Any) -> dict[str, Any]:
    """While step 0's callback runs, the next max_queue_size=2 batches are read, and no more."""
    sequence = Batches(x, y)
    seen: dict[str, Any] = {}

    def at_batch_end(batch: int, logs: Any) -> None:
        if batch == 0:
            event = sequence.read_event.setdefault(2, threading.Event())
            seen["read_batch_2_in_background"] = event.wait(timeout=120)
            seen["read_while_step_0_ended"] = sorted(sequence.read)

    model = build_model(strategy)
    callback = keras.callbacks.LambdaCallback(on_train_batch_end=at_batch_end)
    distributed_fit(model, sequence, callbacks=[callback], max_queue_size=2, shuffle=False, verbose=0)
    return seen


def wait_for_test(timeout: float) -> bool:
    """Blocks until the test writes "go" on this process's stdin (True), or `timeout` seconds pass or the
    test goes away, closing the pipe (False). A signal's handler runs during the wait, which goes on."""
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    return bool(ready) and sys.stdin.readline().strip() == "go"


class PauseAt(keras.callbacks.Callback):
    """After global step `step`, writes `announce` and waits (bounded) for the test: a SIGKILL ends the
    wait with the process; after a SIGTERM, the test's "go" lets training reach its next step."""

    def __init__(self, step: int, announce: Path) -> None:
        super().__init__()
        self.step, self.announce = step, announce
        self.steps = 0

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.steps += 1
        if self.steps == self.step:
            self.announce.write_text("ready")
            if not wait_for_test(WAIT_FOR_TEST):
                os._exit(3)  # the test never came: give up rather than hang


class FailAtBatch(keras.callbacks.Callback):
    """At batch 1, makes this worker hang: it waits for a "go" the test never sends, until it is killed."""

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if batch == 1:
            wait_for_test(HANG_SECONDS)
            os._exit(17)


def _train_until_peer_hangs(strategy: Any) -> dict[str, Any]:
    """Trains until worker 1 hangs; returns what worker 0 raised, and after how long."""
    x, y, _ = data()
    model = build_model(strategy)
    callbacks = [FailAtBatch()] if _INDEX == 1 else []
    started = time.monotonic()
    try:
        distributed_fit(
            model, x, y, strategy=strategy, batch_size=4, epochs=50, callbacks=callbacks, verbose=0
        )
        failure = ["no error", ""]
    except Exception as error:  # recorded for the test
        failure = [type(error).__name__, str(error)]
    return {"error": failure, "seconds": time.monotonic() - started}


def backed_up_run(strategy: Any, callbacks: list[Any]) -> tuple[Any, Any]:
    """Phase 2 / the resumed run: SEED-shuffled batches of BATCH rows, backups every 3 steps."""
    x, y, _ = data()
    model = build_model(strategy)
    history = distributed_fit(
        model,
        x,
        y,
        strategy=strategy,
        batch_size=BATCH,
        epochs=EPOCHS,
        seed=SEED,
        verbose=0,
        callbacks=callbacks,
        backup_dir=str(OUT_DIR / "backup"),
        save_freq=3,
    )
    return model, history


def run_worker(scenario: str) -> None:
    """'die': train (phase 1), then phase 2 with backups until worker 1 is killed. 'resume': finish
    phase 2 from the backups. 'hang': worker 1 stalls, timeout set."""
    out = OUT_DIR / f"{scenario}{_INDEX}.json"
    if scenario == "hang":
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=COLLECTIVE_TIMEOUT)
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        out.write_text(json.dumps({"after_peer_hang": _train_until_peer_hangs(strategy)}))
        os._exit(0)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    if scenario == "resume":
        model, history = backed_up_run(strategy, [])
        out.write_text(json.dumps(summary(model, history)))
        os._exit(0)
    x, y, _ = data()
    model = build_model(strategy)
    counted_x, counted_y = RowArray(x), RowArray(y)
    history = distributed_fit(
        model, counted_x, counted_y, strategy=strategy, batch_size=BATCH, epochs=EPOCHS, seed=SEED, verbose=0
    )
    results: dict[str, Any] = {"replicas": strategy.num_replicas_in_sync, **summary(model, history)}
    results["rows_read"] = [counted_x.rows_read, counted_y.rows_read]
    model = build_model(strategy)  # half-size batches: one per worker and step, the union is BATCH rows
    sequence = Batches(x, y, batch=BATCH // 2)
    results["sequence"] = summary(
        model, distributed_fit(model, sequence, epochs=EPOCHS, shuffle=False, verbose=0)
    )
    out.write_text(json.dumps(results))
    callbacks = [PauseAt(7, OUT_DIR / "kill-me")] if _INDEX == 1 else []
    try:
        backed_up_run(strategy, callbacks)
        failure = ["no error", ""]
    except Exception as error:  # recorded for the test
        failure = [type(error).__name__, str(error)]
    results["after_peer_death"] = {"error": failure, "at": time.time()}
    out.write_text(json.dumps(results))
    os._exit(0)  # skip the TF runtime's shutdown handshake with the dead peer


def run_single(mode: str) -> None:
    """'preempt': trains with backups until the test's SIGTERM; 'resume_single': finishes that run."""
    callbacks = [PauseAt(6, OUT_DIR / "term-me")] if mode == "preempt" else []
    model, history = backed_up_run(tf.distribute.get_strategy(), callbacks)
    (OUT_DIR / f"{mode}.json").write_text(json.dumps(summary(model, history)))


if __name__ == "__main__":
    if MODE == "mirrored":
        (OUT_DIR / "mirrored.json").write_text(json.dumps(run_mirrored()))
    elif MODE == "worker":
        run_worker(sys.argv[5])
    else:
        run_single(MODE)
