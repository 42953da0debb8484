"""distributed_fit under MirroredStrategy (2 logical CPUs) and MultiWorkerMirroredStrategy (2 processes).

All training runs in fresh subprocesses (`tests/_distribute_worker.py`): one
for MirroredStrategy and the Keras `model.fit` references, two pairs of
workers on 127.0.0.1 with `TF_CONFIG` (one pair loses a worker to SIGKILL and
is restarted from its backups, the other loses one to a hang), and one
process preempted by SIGTERM, then resumed. The first six start together, so
the waits overlap; the tests compare their JSON results.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _ports import free_ports

WORKER = Path(__file__).with_name("_distribute_worker.py")
TOLERANCE = 1e-5
EPOCHS = 3
SUBPROCESS_TIMEOUT = 900  # generous: the tests run on busy shared 2-core machines
ANNOUNCE_TIMEOUT = 900


def _max_weight_diff(a: dict[str, Any], b: dict[str, Any]) -> float:
    return max(
        float(np.max(np.abs(np.array(p) - np.array(q))))
        for p, q in zip(a["weights"], b["weights"], strict=True)
    )


def _assert_same_history(got: dict[str, list[float]], expected: dict[str, list[float]]) -> None:
    assert sorted(got) == sorted(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(got[name], values, rtol=TOLERANCE, atol=TOLERANCE, err_msg=name)


def _start(workdir: Path, name: str, *args: str) -> subprocess.Popen[str]:
    """One worker subprocess; its stdout and stderr go to files in `workdir` (no pipe can fill up); its
    stdin is a pipe on which the test tells a paused worker to go on (`wait_for_test` in the worker)."""
    with open(workdir / f"{name}.stdout", "w") as stdout, open(workdir / f"{name}.stderr", "w") as stderr:
        command = [sys.executable, str(WORKER), *args]
        return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr, text=True)


def _wait_for_file(path: Path, process: subprocess.Popen[str], timeout: float) -> None:
    """Waits until `process` writes `path`; fails if it exits first or the deadline passes."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            pytest.fail(f"{path.name}: the process ended ({process.returncode}) before writing it")
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name} not written within {timeout} s")
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.05)  # returns at once if the process ends


class _Runs:
    """All subprocesses of this module. The first ones start together: the worker pairs mostly wait
    (on each other, a dead peer's heartbeat or the collective timeout), so they overlap with the
    CPU-bound mirrored run; the restarted runs start once their first run has ended."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        ports = [str(port) for port in free_ports(6)]  # all at once, so no two pairs share one
        self.ports = {"hang": ports[0:2], "die": ports[2:4], "resume": ports[4:6]}
        self.dirs = {name: tmp_path_factory.mktemp(name) for name in ("hang", "die", "mirrored", "single")}
        self.dirs["resume"] = self.dirs["die"]  # the restarted pair finds the backups there
        self.processes = {scenario: self._pair(scenario) for scenario in ("hang", "die")}
        self.processes["mirrored"] = [
            _start(self.dirs["mirrored"], "mirrored", "mirrored", str(self.dirs["mirrored"]))
        ]
        self.processes["preempt"] = [
            _start(self.dirs["single"], "preempt", "preempt", str(self.dirs["single"]))
        ]

    def _pair(self, scenario: str) -> list[subprocess.Popen[str]]:
        return [
            _start(
                self.dirs[scenario],
                f"{scenario}-worker{index}",
                "worker",
                str(self.dirs[scenario]),
                str(index),
                ",".join(self.ports[scenario]),
                scenario,
            )
            for index in range(2)
        ]

    def restart(self, scenario: str) -> None:
        if scenario == "resume":
            self.processes["resume"] = self._pair("resume")
        else:
            single = self.dirs["single"]
            self.processes[scenario] = [_start(single, scenario, scenario, str(single))]

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
    results["stderr"] = runs.output(scenario, f"{scenario}-worker0", "stderr")[-3000:]
    return results


@pytest.fixture(scope="module")
def workers(runs: _Runs) -> dict[str, Any]:
    """Two MultiWorkerMirroredStrategy workers: phase 1 trains; in phase 2 worker 1 is SIGKILLed
    after step 7 (mid-epoch 2), and then the pair is restarted and resumes from its backups."""
    worker1 = runs.processes["die"][1]
    _wait_for_file(runs.dirs["die"] / "kill-me", worker1, ANNOUNCE_TIMEOUT)
    killed_at, results_killed_at = time.monotonic(), time.time()  # wall clock: compared with worker 0's
    worker1.send_signal(signal.SIGKILL)
    results = _collect_worker_pair(runs, "die", grace=SUBPROCESS_TIMEOUT)
    results["killed_at"] = results_killed_at
    results["backups_after_kill"] = sorted(path.name for path in (runs.dirs["die"] / "backup").iterdir())
    runs.restart("resume")
    results["resumed"] = _collect_worker_pair(runs, "resume", grace=SUBPROCESS_TIMEOUT)
    results["kill_to_resumed_end_seconds"] = time.monotonic() - killed_at
    return results


@pytest.fixture(scope="module")
def hanging_workers(runs: _Runs) -> dict[str, Any]:
    """Two workers with a collective timeout; worker 1 stalls mid-epoch."""
    return _collect_worker_pair(runs, "hang", grace=0)


@pytest.fixture(scope="module")
def preempted(runs: _Runs) -> dict[str, Any]:
    """One process gets SIGTERM after step 6 (mid-epoch 2); a second run resumes from its backup."""
    process, single = runs.processes["preempt"][0], runs.dirs["single"]
    _wait_for_file(single / "term-me", process, ANNOUNCE_TIMEOUT)
    process.send_signal(signal.SIGTERM)
    assert process.stdin is not None
    process.stdin.write("go\n")  # after the signal: the next step sees the preemption
    process.stdin.flush()
    returncode = process.wait(timeout=SUBPROCESS_TIMEOUT)
    backups = sorted(path.name for path in (single / "backup").iterdir())
    with np.load(single / "backup" / backups[-1]) as stored:
        position = json.loads(str(stored["position"]))
    runs.restart("resume_single")
    resumed_code = runs.processes["resume_single"][0].wait(timeout=SUBPROCESS_TIMEOUT)
    assert resumed_code == 0, runs.output("single", "resume_single", "stderr")[-3000:]
    return {
        "returncode": returncode,
        "stderr": runs.output("single", "preempt", "stderr")[-3000:],
        "backups": backups,
        "position": position,
        "backups_after_resume": sorted(path.name for path in (single / "backup").iterdir()),
        "resumed": json.loads((single / "resume_single.json").read_text()),
    }


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


def test_validation_split_and_class_weight_train_like_keras_fit(mirrored: dict[str, Any]) -> None:
    """validation_split holds out the last rows; class_weight weighs the targets' classes, as `fit`."""
    got, expected = mirrored["split_classes"], mirrored["keras_fit_split_classes"]
    assert _max_weight_diff(got, expected) <= TOLERANCE
    _assert_same_history(got["history"], expected["history"])


def test_steps_per_epoch_continues_the_data_across_epochs(mirrored: dict[str, Any]) -> None:
    """6 epochs of 2 steps train on the same 12 batches as 3 epochs of 4 (61 rows, batch 16)."""
    assert _max_weight_diff(mirrored["steps_per_epoch"], mirrored["numpy"]) <= TOLERANCE
    assert len(mirrored["steps_per_epoch"]["history"]["loss"]) == 2 * EPOCHS


@pytest.mark.parametrize("source", ["weighted_sequence", "weighted_dataset", "weighted_array_sequence"])
def test_sample_weights_of_every_batched_input_train_like_keras_fit(
    mirrored: dict[str, Any], source: str
) -> None:
    """Sample weights yielded by a PyDataset (read by 2 threads), a tf.data dataset or an
    ArraySequence weigh the losses as `fit(sample_weight=...)` does."""
    assert _max_weight_diff(mirrored[source], mirrored["keras_fit_weighted"]) <= TOLERANCE
    _assert_same_history(mirrored[source]["history"], mirrored["keras_fit_weighted"]["history"])


def test_chunk_aware_array_sequence_order_is_the_same_under_any_strategy(mirrored: dict[str, Any]) -> None:
    """An ArraySequence with shuffle='chunks' on compressed HDF5: replicas reading their own rows of
    each pass's chunk-aware order train like one device on the same global batches."""
    chunks = mirrored["chunks"]
    assert _max_weight_diff(chunks["mirrored"], chunks["default"]) <= TOLERANCE
    assert _max_weight_diff(chunks["default"], mirrored["numpy"]) > 1e-4  # the order did change
    _assert_same_history(chunks["mirrored"]["history"], chunks["default"]["history"])


def test_validation_steps_and_validation_freq(mirrored: dict[str, Any]) -> None:
    """validation_freq=[3] validates after epoch 3 only; validation_steps=1 evaluates one batch."""
    validation = mirrored["validation_freq"]
    history = validation["history"]
    assert len(history["loss"]) == EPOCHS
    assert len(history["val_loss"]) == 1
    np.testing.assert_allclose(history["val_loss"][0], validation["evaluate"]["loss"], rtol=TOLERANCE)


def test_batches_are_read_ahead_in_the_background_bounded_by_max_queue_size(mirrored: dict[str, Any]) -> None:
    """While step 0's callback runs, batches 1 and 2 are read (max_queue_size=2), batch 3 is not."""
    seen = mirrored["read_ahead"]
    assert seen["read_batch_2_in_background"]
    assert seen["read_while_step_0_ended"] == [0, 1, 2]


@pytest.mark.parametrize(
    ("case", "expected_type", "named"),
    [
        ("uncompiled", "RuntimeError", "must be compiled"),
        ("outside_scope", "ValueError", "outside the strategy's scope"),
        ("rows_mismatch", "ValueError", "[50, 61]"),
        ("y_with_dataset", "ValueError", "Batches"),
        ("no_y", "ValueError", "y=None"),
        ("batch_size", "ValueError", "batch_size (the global batch)=0"),
        ("not_array", "TypeError", "int: 3"),
        ("not_model", "TypeError", "got str"),
        ("split_with_sequence", "ValueError", "validation_split=0.2 needs x and y as arrays"),
        ("split_too_large", "ValueError", "validation_split=0.999 leaves no rows"),
        ("class_weight_two_outputs", "ValueError", "class_weight needs a single target array"),
        ("class_weight_keys", "ValueError", "class_weight keys must be class indices"),
        ("steps_per_epoch", "ValueError", "steps_per_epoch=0 must be a positive int"),
        ("validation_freq", "ValueError", "validation_freq=0 must be a positive int"),
        ("multiprocessing", "ValueError", "use_multiprocessing=True is not supported"),
        ("infinite", "ValueError", "give steps_per_epoch="),
        ("save_freq", "ValueError", "save_freq ('epoch' or a number of steps)='often'"),
        ("failing_batch", "KeyError", "batch 2 is corrupt"),
    ],
)
def test_bad_arguments_raise_clear_errors(
    mirrored: dict[str, Any], case: str, expected_type: str, named: str
) -> None:
    """Uncompiled models, models built outside the scope, bad data or arguments name the problem;
    an error while reading a batch in the background reaches the caller."""
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


def test_each_worker_reads_only_its_replicas_rows(workers: dict[str, Any]) -> None:
    """Global batches of 16, 16, 16, 13 rows: worker 0 reads 8+8+8+7, worker 1 8+8+8+6 rows per epoch."""
    assert workers["worker0"]["rows_read"] == [31 * EPOCHS, 31 * EPOCHS]
    assert workers["worker1"]["rows_read"] == [30 * EPOCHS, 30 * EPOCHS]


def test_sequence_batches_are_shared_out_between_workers(
    workers: dict[str, Any], mirrored: dict[str, Any]
) -> None:
    """Batches of 8 rows, worker r taking batch 2s+r at step s, train like `fit` on batches of 16."""
    for name in ("worker0", "worker1"):
        assert _max_weight_diff(workers[name]["sequence"], mirrored["keras_fit"]) <= TOLERANCE
        _assert_same_history(workers[name]["sequence"]["history"], mirrored["keras_fit"]["history"])


def test_killed_worker_makes_the_survivor_fail_quickly_and_clearly(workers: dict[str, Any]) -> None:
    """When worker 1 is SIGKILLed mid-epoch, worker 0 raises WorkerFailureError instead of hanging."""
    assert workers["returncodes"] == [0, -signal.SIGKILL], workers["stderr"]
    type_name, message = workers["worker0"]["after_peer_death"]["error"]
    assert type_name == "WorkerFailureError"
    assert "peer worker probably died" in message
    assert "epoch 2" in message
    assert "resumes from the last backup" in message
    assert workers["worker0"]["after_peer_death"]["at"] - workers["killed_at"] < 120


def test_restarted_workers_resume_from_the_backup_and_end_like_an_uninterrupted_run(
    workers: dict[str, Any],
) -> None:
    """Backups after steps 3, 4 (epoch end) and 6; the restart resumes at step 7 and ends with the
    weights and losses of the uninterrupted phase-1 run (same seed); the backups are then removed."""
    assert workers["backups_after_kill"] == ["backup-000000000004.npz", "backup-000000000006.npz"]
    resumed = workers["resumed"]
    assert resumed["returncodes"] == [0, 0], resumed["stderr"]
    uninterrupted = workers["worker0"]
    for name in ("worker0", "worker1"):
        assert _max_weight_diff(resumed[name], uninterrupted) <= TOLERANCE
        np.testing.assert_allclose(
            resumed[name]["history"]["loss"], uninterrupted["history"]["loss"][1:], rtol=TOLERANCE
        )


def test_sigterm_saves_a_backup_before_the_process_ends(preempted: dict[str, Any]) -> None:
    """SIGTERM after step 6: the process backs up (epoch 2, step 2) and ends by SIGTERM; a new run
    resumes there and ends like an uninterrupted one, then removes the backups."""
    assert preempted["returncode"] == -signal.SIGTERM, preempted["stderr"]
    assert preempted["backups"][-1] == "backup-000000000006.npz"
    assert preempted["position"]["epoch"] == 1
    assert preempted["position"]["step"] == 2
    assert preempted["backups_after_resume"] == []


def test_run_resumed_after_sigterm_ends_like_an_uninterrupted_run(
    preempted: dict[str, Any], mirrored: dict[str, Any]
) -> None:
    """The resumed single-process run's weights equal an uninterrupted run with the same seed."""
    assert _max_weight_diff(preempted["resumed"], mirrored["shuffled"]["default"]) <= TOLERANCE


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
