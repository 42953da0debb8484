"""Subprocess side of tests/test_distribute.py; writes its results as JSON.

`python tests/_distribute_worker.py mirrored OUT_DIR`: splits the CPU into 2
logical devices, then compares `distributed_fit` under MirroredStrategy and
the default strategy with Keras `model.fit`, over every kind of input data,
and records the error paths.

`python tests/_distribute_worker.py worker OUT_DIR INDEX PORT0,PORT1 SCENARIO`:
one of two MultiWorkerMirroredStrategy workers on 127.0.0.1. Scenario 'die':
phase 1 trains the shared model; phase 2 trains again and worker 1 dies
mid-epoch, so worker 0 records how (and how fast) it failed. Scenario 'hang':
worker 1 stalls mid-epoch and worker 0 relies on the collective timeout.
"""

from __future__ import annotations

import json
import os
import sys
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
COLLECTIVE_TIMEOUT, HANG_SECONDS = 15.0, 120.0


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
    """A generic array-like: only __len__ and __getitem__ (like HDF5Matrix)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.reads = 0

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, key: Any) -> np.ndarray:
        self.reads += 1
        return self.array[key]


class Batches(keras.utils.PyDataset):
    """A Keras PyDataset of fixed global batches."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        super().__init__()
        self.x, self.y = x, y
        self.epochs_ended = 0

    def __len__(self) -> int:
        return -(-len(self.x) // BATCH)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = slice(index * BATCH, (index + 1) * BATCH)
        return self.x[rows], self.y[rows]

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
    results["validation"] = {
        "history": history.history,
        "evaluate": model.evaluate(x[:20], y[:20], batch_size=BATCH, verbose=0, return_dict=True),
    }

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
    }
    return results


class FailAtBatch(keras.callbacks.Callback):
    """At batch 1, ends this worker abruptly (as a crash would) or makes it hang."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if batch == 1:
            if self.how == "hang":
                time.sleep(HANG_SECONDS)
            os._exit(17)


def _train_until_peer_fails(strategy: Any, how: str) -> dict[str, Any]:
    """Trains until worker 1 dies or hangs; returns what worker 0 raised, and after how long."""
    x, y, _ = data()
    model = build_model(strategy)
    callbacks = [FailAtBatch(how)] if _INDEX == 1 else []
    started = time.monotonic()
    try:
        distributed_fit(
            model, x, y, strategy=strategy, batch_size=4, epochs=50, callbacks=callbacks, verbose=0
        )
        failure = ["no error", ""]
    except Exception as error:  # recorded for the test
        failure = [type(error).__name__, str(error)]
    return {"error": failure, "seconds": time.monotonic() - started}


def run_worker(scenario: str) -> None:
    """'die': train (phase 1), then worker 1 crashes mid-epoch. 'hang': worker 1 stalls, timeout set."""
    out = OUT_DIR / f"{scenario}{_INDEX}.json"
    if scenario == "hang":
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=COLLECTIVE_TIMEOUT)
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        out.write_text(json.dumps({"after_peer_hang": _train_until_peer_fails(strategy, "hang")}))
        os._exit(0)
    x, y, _ = data()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    model = build_model(strategy)
    history = distributed_fit(
        model, x, y, strategy=strategy, batch_size=BATCH, epochs=EPOCHS, seed=SEED, verbose=0
    )
    results: dict[str, Any] = {"replicas": strategy.num_replicas_in_sync, **summary(model, history)}
    out.write_text(json.dumps(results))
    results["after_peer_death"] = _train_until_peer_fails(strategy, "die")
    out.write_text(json.dumps(results))
    os._exit(0)  # skip the TF runtime's shutdown handshake with the dead peer


if __name__ == "__main__":
    if MODE == "mirrored":
        (OUT_DIR / "mirrored.json").write_text(json.dumps(run_mirrored()))
    else:
        run_worker(sys.argv[5])
