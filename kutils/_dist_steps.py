"""The replica steps of `distributed_fit`, the start-up agreement between workers, and peer failures.

Each replica's loss is scaled so that the replicas' gradients sum to those
of one device seeing the whole global batch: Keras reduces the compiled loss
to the local mean divided by the number of replicas; multiplying back by
`replicas * local_rows / global_rows` makes the per-replica values sum to the
mean over the global batch, also when replicas get unequal shares. When a
worker read a whole batch of its own (a `Sequence`), the global row count is
one all-reduce of the local counts, inside the step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _keras3
from ._collective_calls import CollectiveCalls
from ._dist_input import Step
from ._keras import KERAS3, import_keras, import_tensorflow
from ._tree import tree

keras = import_keras("distributed_fit", line=KERAS3)
tf = import_tensorflow("distributed_fit")
nest = tree()  # keras.tree; looked up once, not inside traced steps

__all__ = [
    "PEER_FAILURES",
    "ReplicaSteps",
    "agree_between_workers",
    "describe_peer_failure",
    "random_seed",
]

# Errors a collective raises when a peer dies (UnavailableError: heartbeats stopped, connection
# reset), hangs past the strategy's CommunicationOptions timeout (DeadlineExceededError), or when
# TensorFlow aborts the pending collectives after such a failure (CancelledError, AbortedError).
PEER_FAILURES = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.CancelledError,
    tf.errors.AbortedError,
)

StepResult = tuple[Any, Any, dict[str, Any]]  # (summed loss, global rows, metric results)


def _distribute(strategy: Any, step: Step) -> Any:
    def part_of(context: Any) -> tuple[Any, ...]:
        part = step.parts[context.replica_id_in_sync_group]
        return tuple(nest.map_structure(tf.constant, item) for item in part)

    return strategy.experimental_distribute_values_from_function(part_of)


def _local_rows(x: Any) -> Any:
    return tf.shape(nest.flatten(x)[0])[0]


class ReplicaSteps:
    """The compiled train and test steps of `model` under `strategy`."""

    def __init__(self, model: Any, strategy: Any) -> None:
        self.model = model
        self.strategy = strategy
        self._train = tf.function(self._train_step, reduce_retracing=True)
        self._test = tf.function(self._test_step, reduce_retracing=True)
        self._calls = CollectiveCalls()  # a peer failure must raise, not crash this process

    def train(self, step: Step) -> StepResult:
        result: StepResult = self._calls.call(
            self._train, _distribute(self.strategy, step), _rows_tensor(step)
        )
        return result

    def test(self, step: Step) -> StepResult:
        result: StepResult = self._calls.call(
            self._test, _distribute(self.strategy, step), _rows_tensor(step)
        )
        return result

    def _scaled_loss(
        self, x: Any, y: Any, y_pred: Any, weights: Any, global_rows: Any, training: bool
    ) -> Any:
        loss = _keras3.compute_loss(self.model, x, y, y_pred, weights, training)
        share = tf.cast(_local_rows(x) * self.strategy.num_replicas_in_sync, loss.dtype)
        return loss * share / tf.cast(global_rows, loss.dtype)

    def _global_rows(self, x: Any, global_rows: Any) -> Any:
        if global_rows is not None:
            return global_rows
        context = tf.distribute.get_replica_context()
        return context.all_reduce(tf.distribute.ReduceOp.SUM, _local_rows(x))

    def _replica_train(self, data: tuple[Any, ...], global_rows: Any) -> tuple[Any, Any]:
        x, y, weights = (*data, None)[:3]
        model = self.model
        global_rows = self._global_rows(x, global_rows)
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = self._scaled_loss(x, y, y_pred, weights, global_rows, training=True)
            scaled_for_optimizer = model.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_for_optimizer, model.trainable_variables)
        _keras3.apply_gradients(model.optimizer, gradients, model.trainable_variables)
        _keras3.compute_metrics(model, x, y, y_pred, weights)
        return loss, global_rows

    def _replica_test(self, data: tuple[Any, ...], global_rows: Any) -> tuple[Any, Any]:
        x, y, weights = (*data, None)[:3]
        global_rows = self._global_rows(x, global_rows)
        y_pred = self.model(x, training=False)
        loss = self._scaled_loss(x, y, y_pred, weights, global_rows, training=False)
        _keras3.compute_metrics(self.model, x, y, y_pred, weights)
        return loss, global_rows

    def _reduced(self, outputs: tuple[Any, Any]) -> StepResult:
        per_replica_loss, per_replica_rows = outputs
        loss = self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica_loss, axis=None)
        rows = self.strategy.experimental_local_results(per_replica_rows)[0]  # equal on every replica
        return loss, rows, _metric_results(self.model)

    def _train_step(self, data: Any, global_rows: Any) -> StepResult:
        return self._reduced(self.strategy.run(self._replica_train, args=(data, global_rows)))

    def _test_step(self, data: Any, global_rows: Any) -> StepResult:
        return self._reduced(self.strategy.run(self._replica_test, args=(data, global_rows)))


def _rows_tensor(step: Step) -> Any:
    return None if step.global_rows is None else tf.constant(step.global_rows)


def _metric_results(model: Any) -> dict[str, Any]:
    """Compiled metrics read across all replicas and workers; 'loss' is tracked by the loop itself."""
    return {name: value for name, value in model.get_metrics_result().items() if name != "loss"}


def agree_between_workers(strategy: Any, seed: int, checked: dict[str, int]) -> int:
    """All workers adopt replica 0's `seed` and check that every value in `checked` is the same on all.

    One SUM all-reduce: replica 0 sends its seed, every replica sends each
    checked value v and v**2; all v are equal exactly when
    sum(v)**2 == R * sum(v**2).

    Returns:
        Replica 0's seed.

    Raises:
        ValueError: naming the first value the workers disagree on.
    """
    values = list(checked.values())

    def contribution() -> Any:
        first = tf.equal(tf.distribute.get_replica_context().replica_id_in_sync_group, 0)
        chosen_seed = tf.where(first, tf.constant(seed, tf.int64), tf.constant(0, tf.int64))
        sent = [chosen_seed] + [tf.constant(v, tf.int64) for value in values for v in (value, value**2)]
        return tf.stack(sent)

    def agree() -> Any:
        contributions = tf.function(lambda: strategy.run(contribution))()
        return strategy.reduce(tf.distribute.ReduceOp.SUM, contributions, axis=None)

    replicas = strategy.num_replicas_in_sync
    agreed = [int(value) for value in CollectiveCalls().call(agree).numpy()]
    for index, (name, own) in enumerate(checked.items()):
        total, squares = agreed[1 + 2 * index], agreed[2 + 2 * index]
        if total**2 != replicas * squares:
            raise ValueError(
                f"distributed_fit: the workers disagree on {name} (this worker: {own}, average over "
                f"the replicas: {total / replicas:g}); every worker must get the same data and arguments"
            )
    return agreed[0]


_CAUSE_HINTS = ("aborted", "unhealthy", "timed out", "reset by peer", "socket closed", "failed to connect")


def _cause(error: Exception) -> str:
    """The line of a TensorFlow error that names the cause (its first line is often just a header)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return next(
        (line for line in lines if any(h in line.lower() for h in _CAUSE_HINTS)), lines[0] if lines else ""
    )


def describe_peer_failure(error: Exception, where: str, resumable: bool) -> str:
    restart = (
        "Restart all workers with the same backup_dir: training resumes from the last backup."
        if resumable
        else "Restart all workers (pass backup_dir= to resume from the last backup instead of the start)."
    )
    return (
        f"distributed_fit: a collective operation failed during {where} ({type(error).__name__}: "
        f"{_cause(error)}). A peer worker probably died, hung or lost its network connection, and "
        f"training cannot continue without it. {restart} To bound the wait for a peer that hangs "
        "rather than dies, create the strategy with communication_options="
        "tf.distribute.experimental.CommunicationOptions(timeout_seconds=...)."
    )


def random_seed() -> int:
    return int(np.random.default_rng().integers(2**31 - 1))
