"""distributed_fit under MirroredStrategy (2 logical CPUs) and MultiWorkerMirroredStrategy (2 processes).

All training runs in fresh subprocesses (`tests/_distribute_worker.py`): one
for MirroredStrategy and the Keras `model.fit` references, and two pairs of
workers on 127.0.0.1 with `TF_CONFIG` (one pair loses a worker to a crash, the
other to a hang). All five start together, so the waits overlap; the tests
compare their JSON results.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

WORKER = Path(__file__).with_name("_distribute_worker.py")
TOLERANCE = 1e-5
EPOCHS = 3
SUBPROCESS_TIMEOUT = 300


def _max_weight_diff(a: dict[str, Any], b: dict[str, Any]) -> float:
    return max(
        float(np.max(np.abs(np.array(p) - np.array(q))))
        for p, q in zip(a["weights"], b["weights"], strict=True)
    )


def _assert_same_history(got: dict[str, list[float]], expected: dict[str, list[float]]) -> None:
    assert sorted(got) == sorted(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(got[name], values, rtol=TOLERANCE, atol=TOLERANCE, err_msg=name)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _start(workdir: Path, name: str, *args: str) -> subprocess.Popen[str]:
    """One worker subprocess; its stdout and stderr go to files in `workdir` (no pipe can fill up)."""
    with open(workdir / f"{name}.stdout", "w") as stdout, open(workdir / f"{name}.stderr", "w") as stderr:
        return subprocess.Popen([sys.executable, str(WORKER), *args], stdout=stdout, stderr=stderr, text=True)


class _Runs:
    """All subprocesses of this module, started together: the worker pairs mostly wait (on each other,
    a dead peer's heartbeat or the collective timeout), so they overlap with the CPU-bound mirrored run."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        ports = [str(port) for port in _free_ports(4)]  # all at once, so the two pairs never share one
        self.dirs = {name: tmp_path_factory.mktemp(name) for name in ("hang", "die", "mirrored")}
        self.processes = {
            scenario: [
                _start(
                    self.dirs[scenario],
                    f"worker{index}",
                    "worker",
                    str(self.dirs[scenario]),
                    str(index),
                    ",".join(pair),
                    scenario,
                )
                for index in range(2)
            ]
            for scenario, pair in (("hang", ports[:2]), ("die", ports[2:]))
        }
        self.processes["mirrored"] = [
            _start(self.dirs["mirrored"], "mirrored", "mirrored", str(self.dirs["mirrored"]))
        ]

    def output(self, run: str, name: str, stream: str) -> str:
        return (self.dirs[run] / f"{name}.{stream}").read_text()

    def kill_all(self) -> None:
        for processes in self.processes.values():
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Runs]:
    started = _Runs(tmp_path_factory)
    yield started
    started.kill_all()


@pytest.fixture(scope="module")
def mirrored(runs: _Runs) -> dict[str, Any]:
    process = runs.processes["mirrored"][0]
    returncode = process.wait(timeout=SUBPROCESS_TIMEOUT)
    assert returncode == 0, runs.output("mirrored", "mirrored", "stderr")[-4000:]
    results = json.loads((runs.dirs["mirrored"] / "mirrored.json").read_text())
    results["stdout"] = runs.output("mirrored", "mirrored", "stdout")
    return results


def _collect_worker_pair(runs: _Runs, scenario: str, grace: float) -> dict[str, Any]:
    """Waits for worker 0, then for worker 1 (up to `grace` s) before killing it."""
    processes = runs.processes[scenario]
    processes[0].wait(timeout=SUBPROCESS_TIMEOUT)
    try:
        processes[1].wait(timeout=grace)
    except subprocess.TimeoutExpired:
        processes[1].kill()  # a hanging worker is ended here, after worker 0 gave up on it
        processes[1].wait()
    written = [runs.dirs[scenario] / f"{scenario}{i}.json" for i in (0, 1)]
    results = {f"worker{i}": json.loads(path.read_text()) for i, path in enumerate(written) if path.exists()}
    results["returncodes"] = [process.returncode for process in processes]
    results["stderr"] = runs.output(scenario, "worker0", "stderr")[-3000:]
    return results


@pytest.fixture(scope="module")
def workers(runs: _Runs) -> dict[str, Any]:
    """Two MultiWorkerMirroredStrategy workers: phase 1 trains, phase 2 loses worker 1 mid-epoch."""
    return _collect_worker_pair(runs, "die", grace=60)


@pytest.fixture(scope="module")
def hanging_workers(runs: _Runs) -> dict[str, Any]:
    """Two workers with a collective timeout; worker 1 stalls mid-epoch."""
    return _collect_worker_pair(runs, "hang", grace=0)


@pytest.mark.slow
def test_mirrored_strategy_runs_two_replicas(mirrored: dict[str, Any]) -> None:
    """The MirroredStrategy subprocess really had 2 replicas (the 2 logical CPUs)."""
    assert mirrored["replicas"] == 2


@pytest.mark.parametrize("source", ["numpy", "array_like", "dataset", "pydataset", "array_sequence"])
def test_mirrored_training_matches_keras_fit_on_one_device(mirrored: dict[str, Any], source: str) -> None:
    """numpy, array-like, tf.data, PyDataset or ArraySequence input: weights and history equal `fit`'s."""
    assert _max_weight_diff(mirrored[source], mirrored["keras_fit"]) <= TOLERANCE
    _assert_same_history(mirrored[source]["history"], mirrored["keras_fit"]["history"])


def test_sample_weights_train_like_keras_fit(mirrored: dict[str, Any]) -> None:
    """sample_weight weighs the per-sample losses as Keras `fit` does, with uneven replica shares."""
    assert _max_weight_diff(mirrored["weighted"], mirrored["keras_fit_weighted"]) <= TOLERANCE
    _assert_same_history(mirrored["weighted"]["history"], mirrored["keras_fit_weighted"]["history"])


def test_same_seed_gives_same_shuffled_batches_under_any_strategy(mirrored: dict[str, Any]) -> None:
    """With shuffling, MirroredStrategy and the default strategy train on the same global batches."""
    shuffled = mirrored["shuffled"]
    assert _max_weight_diff(shuffled["mirrored"], shuffled["default"]) <= TOLERANCE
    assert _max_weight_diff(shuffled["mirrored"], mirrored["numpy"]) > 1e-4  # the order did change
    _assert_same_history(shuffled["mirrored"]["history"], shuffled["default"]["history"])


def test_shuffled_hdf5_matrices_train_like_shuffled_numpy(mirrored: dict[str, Any]) -> None:
    """HDF5Matrix inputs read in shuffled row order give the same training as numpy arrays."""
    assert _max_weight_diff(mirrored["hdf5_shuffled"], mirrored["shuffled"]["default"]) <= TOLERANCE
    _assert_same_history(mirrored["hdf5_shuffled"]["history"], mirrored["shuffled"]["default"]["history"])


def test_sequence_on_epoch_end_runs_after_every_epoch(mirrored: dict[str, Any]) -> None:
    """A PyDataset's on_epoch_end is called once per epoch (Keras 2 Sequence contract)."""
    assert mirrored["pydataset"]["epochs_ended"] == EPOCHS


def test_validation_logs_and_callbacks(mirrored: dict[str, Any]) -> None:
    """validation_data adds val_ logs equal to `evaluate`; a callback setting stop_training stops."""
    validation = mirrored["validation"]
    history = validation["history"]
    assert sorted(history) == ["loss", "mae", "val_loss", "val_mae"]
    assert len(history["loss"]) == 1
    np.testing.assert_allclose(history["val_loss"][0], validation["evaluate"]["loss"], rtol=TOLERANCE)
    np.testing.assert_allclose(history["val_mae"][0], validation["evaluate"]["mae"], rtol=TOLERANCE)


def test_progress_bar_prints_keras_224_epochs(mirrored: dict[str, Any]) -> None:
    """verbose=1 prints `Epoch i/n` and a Keras 2.2.4 progress line with the loss and metrics."""
    stdout = mirrored["stdout"]
    progress = stdout[stdout.index("PROGRESS-START") : stdout.index("PROGRESS-END")]
    assert "Epoch 1/2" in progress
    assert "Epoch 2/2" in progress
    assert "4/4 [==============================]" in progress
    assert " - loss: " in progress
    assert " - mae: " in progress


@pytest.mark.parametrize(
    ("case", "expected_type", "named"),
    [
        ("uncompiled", "RuntimeError", "must be compiled"),
        ("outside_scope", "ValueError", "outside the strategy's scope"),
        ("rows_mismatch", "ValueError", "[50, 61]"),
        ("y_with_dataset", "ValueError", "Batches"),
        ("no_y", "ValueError", "y=None"),
        ("batch_size", "ValueError", "batch_size=0"),
        ("not_array", "TypeError", "int: 3"),
        ("not_model", "TypeError", "got str"),
    ],
)
def test_bad_arguments_raise_clear_errors(
    mirrored: dict[str, Any], case: str, expected_type: str, named: str
) -> None:
    """Uncompiled models, models built outside the scope and bad data name the problem."""
    type_name, message = mirrored["errors"][case]
    assert type_name == expected_type
    assert named in message


@pytest.mark.slow
def test_two_workers_end_with_identical_weights(workers: dict[str, Any]) -> None:
    """Both MultiWorkerMirroredStrategy workers (one replica each) end with the same weights."""
    assert workers["worker0"]["replicas"] == 2
    assert _max_weight_diff(workers["worker0"], workers["worker1"]) <= 1e-7


def test_two_workers_match_a_single_process_run(workers: dict[str, Any], mirrored: dict[str, Any]) -> None:
    """The workers' weights and history equal one process trained on the same shuffled global batches."""
    single_process = mirrored["shuffled"]["default"]
    for name in ("worker0", "worker1"):
        assert _max_weight_diff(workers[name], single_process) <= TOLERANCE
        _assert_same_history(workers[name]["history"], single_process["history"])


def test_dead_worker_makes_the_survivor_fail_quickly_and_clearly(workers: dict[str, Any]) -> None:
    """When worker 1 crashes mid-epoch, worker 0 raises WorkerFailureError instead of hanging."""
    assert workers["returncodes"] == [0, 17], workers["stderr"]
    type_name, message = workers["worker0"]["after_peer_death"]["error"]
    assert type_name == "WorkerFailureError"
    assert "peer worker probably died" in message
    assert "epoch 1" in message
    assert workers["worker0"]["after_peer_death"]["seconds"] < 120


@pytest.mark.slow
def test_hanging_worker_makes_the_survivor_fail_after_the_collective_timeout(
    hanging_workers: dict[str, Any],
) -> None:
    """A stalled worker is caught by CommunicationOptions(timeout_seconds=15): WorkerFailureError."""
    assert hanging_workers["returncodes"][0] == 0, hanging_workers["stderr"]
    outcome = hanging_workers["worker0"]["after_peer_hang"]
    type_name, message = outcome["error"]
    assert type_name == "WorkerFailureError"
    assert "DeadlineExceededError" in message
    assert "timed out" in message
    assert 15 <= outcome["seconds"] < 120
