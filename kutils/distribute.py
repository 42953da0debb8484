"""`distributed_fit`: train a compiled Keras 3 model under any `tf.distribute` strategy.

Keras 3 `model.fit` fails under `MultiWorkerMirroredStrategy` on TF 2.21
(keras-team/keras#20585: "Attempt to convert a value (PerReplica...) to a
Tensor"). `distributed_fit` runs the model's own loss, optimizer and metrics in
a custom loop around `strategy.run`, which works under every strategy:

- every worker builds the same global batches (same data, same shuffling seed,
  agreed on at start), and each replica takes its share of every batch;
- each replica's loss is scaled by the *global* batch size, so the summed
  gradients equal those of one device seeing the whole batch;
- a collective that fails because a peer died or hung becomes a
  `WorkerFailureError` instead of a hang.

This module needs TensorFlow and Keras for everything, so it imports them at
the top; `kutils` only imports it on first use of `distributed_fit`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ._keras import import_keras, import_tensorflow

keras = import_keras("distributed_fit")
tf = import_tensorflow("distributed_fit")

__all__ = ["WorkerFailureError", "distributed_fit"]

# Errors a collective raises when a peer dies (UnavailableError: heartbeats stopped, connection
# reset), hangs past the strategy's CommunicationOptions timeout (DeadlineExceededError), or when
# TensorFlow aborts the pending collectives after such a failure (CancelledError, AbortedError).
_PEER_FAILURES = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.CancelledError,
    tf.errors.AbortedError,
)

Batch = tuple[Any, Any, Any]  # (x, y, sample_weight) of one global batch, as numpy structures


class WorkerFailureError(RuntimeError):
    """A collective operation failed: a peer worker died, hung or lost its connection."""


# ----------------------------------------------------------------------------- batch sources


def _is_batch_sequence(data: Any) -> bool:
    """A Keras `PyDataset`/`Sequence` (kutils' included) or a Keras-2-style object indexed by batch."""
    if isinstance(data, keras.utils.PyDataset):
        return True
    return hasattr(data, "__getitem__") and hasattr(data, "__len__") and hasattr(data, "on_epoch_end")


def _as_array_like(value: Any, argument: str) -> Any:
    if isinstance(value, list):
        return np.asarray(value)
    if not (hasattr(value, "__getitem__") and hasattr(value, "__len__")):
        raise TypeError(
            f"distributed_fit: `{argument}` must hold numpy arrays or array-likes (with __len__ and "
            f"__getitem__, e.g. HDF5Matrix); got {type(value).__name__}: {value!r:.80}"
        )
    return value


def _structure_of_arrays(data: Any, argument: str) -> Any:
    if isinstance(data, dict):
        return {key: _as_array_like(value, argument) for key, value in data.items()}
    if isinstance(data, tuple | list) and data and not np.isscalar(data[0]):
        return [_as_array_like(value, argument) for value in data]
    return _as_array_like(data, argument)


def _take_rows(array: Any, rows: np.ndarray) -> np.ndarray:
    """Rows of an array-like in the given order; reads in increasing order (what h5py needs)."""
    if isinstance(array, np.ndarray):
        return array[rows]
    if rows.size and np.all(np.diff(rows) == 1):
        return np.asarray(array[int(rows[0]) : int(rows[-1]) + 1])
    order = np.argsort(rows)
    block = np.asarray(array[rows[order]]) if rows.size else np.asarray(array[0:0])
    restored = np.empty_like(block)
    restored[order] = block
    return restored


class _ArraySource:
    """Global batches cut from array-likes, shuffled per epoch from a seed every worker shares."""

    def __init__(self, x: Any, y: Any, sample_weight: Any, batch_size: int, shuffle: bool) -> None:
        self.x = _structure_of_arrays(x, "x")
        self.y = _structure_of_arrays(y, "y")
        self.sample_weight = (
            None if sample_weight is None else _structure_of_arrays(sample_weight, "sample_weight")
        )
        self.batch_size = batch_size
        self.shuffle = shuffle
        lengths = {
            len(leaf)
            for part in (self.x, self.y, self.sample_weight)
            if part is not None
            for leaf in tf.nest.flatten(part)
        }
        if len(lengths) != 1:
            raise ValueError(
                "distributed_fit: x, y and sample_weight must have the same number of rows; "
                f"got {sorted(lengths)}"
            )
        self.num_samples = lengths.pop()

    def num_batches(self) -> int | None:
        return -(-self.num_samples // self.batch_size)

    def batches(self, epoch: int, seed: int) -> Iterator[Batch]:
        if self.shuffle:
            order = np.random.default_rng([seed, epoch]).permutation(self.num_samples)
        else:
            order = np.arange(self.num_samples)
        for start in range(0, self.num_samples, self.batch_size):
            rows = order[start : start + self.batch_size]
            yield tuple(  # type: ignore[misc]
                None if part is None else tf.nest.map_structure(lambda a, r=rows: _take_rows(a, r), part)
                for part in (self.x, self.y, self.sample_weight)
            )

    def end_epoch(self) -> None:
        """Array sources keep no per-epoch state."""


def _unpack(batch: Any, source: str) -> Batch:
    if isinstance(batch, tuple | list) and len(batch) in (2, 3):
        return batch[0], batch[1], batch[2] if len(batch) == 3 else None
    raise ValueError(
        f"distributed_fit: each batch of {source} must be a tuple (x, y) or (x, y, sample_weight); "
        f"got {type(batch).__name__} of length {len(batch) if hasattr(batch, '__len__') else 'n/a'}"
    )


def _to_numpy(structure: Any) -> Any:
    return None if structure is None else tf.nest.map_structure(np.asarray, structure)


class _SequenceSource:
    """Global batches from a batch-indexed Sequence; `shuffle` shuffles the batch order (Keras 2)."""

    def __init__(self, sequence: Any, shuffle: bool) -> None:
        self.sequence = sequence
        self.shuffle = shuffle

    def num_batches(self) -> int | None:
        return len(self.sequence)

    def batches(self, epoch: int, seed: int) -> Iterator[Batch]:
        count = len(self.sequence)
        order = np.random.default_rng([seed, epoch]).permutation(count) if self.shuffle else range(count)
        for index in order:
            x, y, weights = _unpack(self.sequence[int(index)], type(self.sequence).__name__)
            yield _to_numpy(x), _to_numpy(y), _to_numpy(weights)

    def end_epoch(self) -> None:
        self.sequence.on_epoch_end()


class _DatasetSource:
    """Global batches from a finite `tf.data.Dataset`, which must yield the same batches on every worker."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def num_batches(self) -> int | None:
        cardinality = int(self.dataset.cardinality())
        if cardinality == tf.data.INFINITE_CARDINALITY:
            raise ValueError(
                "distributed_fit: the tf.data dataset is infinite; give a finite dataset (drop .repeat())"
            )
        return cardinality if cardinality >= 0 else None

    def batches(self, epoch: int, seed: int) -> Iterator[Batch]:
        for batch in self.dataset:
            x, y, weights = _unpack(batch, "the dataset")
            yield _to_numpy(x), _to_numpy(y), _to_numpy(weights)

    def end_epoch(self) -> None:
        """Datasets restart by being iterated again."""


_Source = _ArraySource | _SequenceSource | _DatasetSource


def _make_source(x: Any, y: Any, sample_weight: Any, batch_size: int, shuffle: bool) -> _Source:
    batched = isinstance(x, tf.data.Dataset) or _is_batch_sequence(x)
    if batched and (y is not None or sample_weight is not None):
        raise ValueError(
            f"distributed_fit: `y` and `sample_weight` must be None when x is a {type(x).__name__} "
            "(it yields (x, y[, sample_weight]) batches itself)"
        )
    if isinstance(x, tf.data.Dataset):
        return _DatasetSource(x)
    if batched:
        return _SequenceSource(x, shuffle)
    if x is None or y is None:
        raise ValueError(
            f"distributed_fit: give both x and y arrays (or a dataset / Sequence as x); got y={y!r}"
        )
    return _ArraySource(x, y, sample_weight, batch_size, shuffle)


# ----------------------------------------------------------------------------- replica steps


def _cast_floats(structure: Any) -> Any:
    """Float arrays in Keras' float type (what `model.fit` feeds), other arrays unchanged."""

    def cast(array: np.ndarray) -> np.ndarray:
        return array.astype(keras.backend.floatx()) if array.dtype.kind == "f" else array

    return None if structure is None else tf.nest.map_structure(cast, structure)


def _shard(structure: Any, replica: int, replicas: int) -> Any:
    """Replica `replica`'s contiguous share of every leaf (np.array_split sizes), as tensors."""
    return tf.nest.map_structure(
        lambda array: tf.constant(np.array_split(array, replicas)[replica]), _cast_floats(structure)
    )


def _distribute(strategy: Any, batch: Batch) -> tuple[Any, ...]:
    def per_replica(context: Any) -> tuple[Any, ...]:
        replica, replicas = context.replica_id_in_sync_group, context.num_replicas_in_sync
        return tuple(_shard(part, replica, replicas) for part in batch if part is not None)

    return strategy.experimental_distribute_values_from_function(per_replica)


def _local_rows(x: Any) -> Any:
    return tf.shape(tf.nest.flatten(x)[0])[0]


class _Steps:
    """The compiled train and test steps of `model` under `strategy`."""

    def __init__(self, model: Any, strategy: Any) -> None:
        self.model = model
        self.strategy = strategy
        self.train = tf.function(self._train, reduce_retracing=True)
        self.test = tf.function(self._test, reduce_retracing=True)

    def _scaled_loss(
        self, x: Any, y: Any, y_pred: Any, weights: Any, global_rows: Any, training: bool
    ) -> Any:
        """The replica's share of the global-batch mean loss.

        Keras reduces the compiled loss to the local mean divided by the number
        of replicas; multiplying back by replicas * local_rows / global_rows
        makes the per-replica values sum to the mean over the global batch,
        also when replicas get unequal shares (the last batch).
        """
        loss = self.model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=weights, training=training)
        share = tf.cast(_local_rows(x) * self.strategy.num_replicas_in_sync, loss.dtype)
        return loss * share / tf.cast(global_rows, loss.dtype)

    def _replica_train(self, data: tuple[Any, ...], global_rows: Any) -> Any:
        x, y, weights = (*data, None) if len(data) == 2 else data
        model = self.model
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = self._scaled_loss(x, y, y_pred, weights, global_rows, training=True)
            scaled_for_optimizer = model.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_for_optimizer, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        model.compute_metrics(x, y, y_pred, sample_weight=weights)
        return loss

    def _replica_test(self, data: tuple[Any, ...], global_rows: Any) -> Any:
        x, y, weights = (*data, None) if len(data) == 2 else data
        y_pred = self.model(x, training=False)
        loss = self._scaled_loss(x, y, y_pred, weights, global_rows, training=False)
        self.model.compute_metrics(x, y, y_pred, sample_weight=weights)
        return loss

    def _reduced(self, per_replica_loss: Any) -> tuple[Any, dict[str, Any]]:
        loss = self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica_loss, axis=None)
        return loss, _metric_results(self.model)

    def _train(self, data: Any, global_rows: Any) -> tuple[Any, dict[str, Any]]:
        return self._reduced(self.strategy.run(self._replica_train, args=(data, global_rows)))

    def _test(self, data: Any, global_rows: Any) -> tuple[Any, dict[str, Any]]:
        return self._reduced(self.strategy.run(self._replica_test, args=(data, global_rows)))


def _metric_results(model: Any) -> dict[str, Any]:
    """Compiled metrics read across all replicas and workers; 'loss' is tracked by the loop itself."""
    return {name: value for name, value in model.get_metrics_result().items() if name != "loss"}


# ----------------------------------------------------------------------------- the loop


def _agree_between_workers(strategy: Any, seed: int | None, num_batches: int | None) -> tuple[int, int]:
    """All workers adopt replica 0's seed; returns (seed, batches per epoch) after checking all agree.

    One SUM all-reduce: replica 0 sends its seed, every replica sends n and n**2
    (n = its batches per epoch); all n are equal exactly when sum(n)**2 == R * sum(n**2).
    """
    own_seed = int(np.random.default_rng().integers(2**31 - 1)) if seed is None else int(seed)
    batches = -1 if num_batches is None else num_batches

    def contribution() -> Any:
        first = tf.equal(tf.distribute.get_replica_context().replica_id_in_sync_group, 0)
        chosen_seed = tf.where(first, tf.constant(own_seed, tf.int64), tf.constant(0, tf.int64))
        return tf.stack([chosen_seed, tf.constant(batches, tf.int64), tf.constant(batches**2, tf.int64)])

    replicas = strategy.num_replicas_in_sync
    contributions = tf.function(lambda: strategy.run(contribution))()
    agreed = strategy.reduce(tf.distribute.ReduceOp.SUM, contributions, axis=None).numpy()
    agreed_seed, total, total_squares = (int(value) for value in agreed)
    if total**2 != replicas * total_squares:
        raise ValueError(
            "distributed_fit: the workers see different numbers of batches per epoch (this worker: "
            f"{num_batches}, average: {total / replicas:g}); every worker must get the same data"
        )
    return agreed_seed, batches


_CAUSE_HINTS = ("aborted", "unhealthy", "timed out", "reset by peer", "socket closed", "failed to connect")


def _cause(error: Exception) -> str:
    """The line of a TensorFlow error that names the cause (its first line is often just a header)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return next(
        (line for line in lines if any(h in line.lower() for h in _CAUSE_HINTS)), lines[0] if lines else ""
    )


def _peer_failure(error: Exception, where: str) -> WorkerFailureError:
    summary = _cause(error)
    return WorkerFailureError(
        f"distributed_fit: a collective operation failed during {where} ({type(error).__name__}: "
        f"{summary}). A peer worker probably died, hung or lost its network connection, and training "
        "cannot continue without it. Restart all workers (from your last checkpoint). To bound the wait "
        "for a peer that hangs rather than dies, create the strategy with communication_options="
        "tf.distribute.experimental.CommunicationOptions(timeout_seconds=...)."
    )


def _check_model(model: Any, strategy: Any) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(f"distributed_fit: `model` must be a Keras 3 keras.Model; got {type(model).__name__}")
    if not model.compiled or model.optimizer is None:
        raise RuntimeError(
            f"distributed_fit: model {model.name!r} must be compiled before training: call "
            "model.compile(optimizer, loss) inside `with strategy.scope():`"
        )
    outside = [v.path for v in model.variables if not strategy.extended.variable_created_in_scope(v.value)]
    if outside:
        raise ValueError(
            f"distributed_fit: model {model.name!r} was built outside the strategy's scope (e.g. variable "
            f"{outside[0]!r}); build and compile it inside `with strategy.scope():`"
        )


def _run_epoch(
    steps: _Steps,
    step: Callable[[Any, Any], tuple[Any, dict[str, Any]]],
    batches: Iterator[Batch],
    before_batch: Callable[[int], None] = lambda index: None,
    after_batch: Callable[[int, dict[str, float]], None] = lambda index, logs: None,
) -> dict[str, float]:
    """Runs `step` over the batches; logs hold the running row-weighted mean loss and the metrics."""
    steps.model.reset_metrics()
    total_loss, total_rows = 0.0, 0
    logs: dict[str, float] = {}
    for index, batch in enumerate(batches):
        rows = len(tf.nest.flatten(batch[0])[0])
        before_batch(index)
        loss, metrics = step(_distribute(steps.strategy, batch), tf.constant(rows))
        total_loss += float(loss) * rows
        total_rows += rows
        logs = {"loss": total_loss / total_rows, **{name: float(value) for name, value in metrics.items()}}
        after_batch(index, logs)
    return logs


def distributed_fit(
    model: Any,
    x: Any = None,
    y: Any = None,
    *,
    strategy: Any = None,
    batch_size: int = 32,
    epochs: int = 1,
    verbose: int = 1,
    sample_weight: Any = None,
    shuffle: bool = True,
    callbacks: Sequence[Any] | None = None,
    validation_data: Any = None,
    initial_epoch: int = 0,
    seed: int | None = None,
) -> Any:
    """Trains a compiled Keras 3 model under a `tf.distribute` strategy, like `model.fit`.

    Works under `MirroredStrategy` (several devices of one machine),
    `MultiWorkerMirroredStrategy` (several machines, where Keras 3 `model.fit`
    fails on TF 2.21, keras-team/keras#20585) and the default strategy. Uses
    the model's compiled loss, optimizer and metrics.

    Every worker must call it with the same data: each builds the same global
    batches of `batch_size` rows (shuffled per epoch from a seed that replica
    0 chooses and all workers adopt), and each replica trains on its share of
    every batch. Each replica's loss is scaled by the global batch size, so the
    result matches a single device trained on the same global batches.

    Args:
        model: A Keras 3 model built and compiled inside `strategy.scope()`.
        x: Input data: numpy arrays or array-likes (e.g. `HDF5Matrix`), or a
            list/dict of them; or a finite `tf.data.Dataset` or a `Sequence`
            (Keras `PyDataset`, `kutils.Sequence`, `kutils.ArraySequence`)
            yielding `(x, y)` or `(x, y, sample_weight)` global batches.
        y: Targets, as `x` (arrays only; None with a dataset or Sequence).
        strategy: The `tf.distribute.Strategy`; None means the strategy the
            model was created under (`model.distribute_strategy`).
        batch_size: Global batch size (arrays only), split across replicas.
        epochs: Index of the epoch to stop after (as in `model.fit`).
        verbose: 0 silent, 1 progress bar, 2 one line per epoch (kutils
            `Progbar`, Keras 2.2.4 look). Use the same value on all workers
            or 0 on all but the chief; the output does not affect training.
        sample_weight: Per-sample weights for array data.
        shuffle: Shuffle the rows (arrays) or the batch order (Sequence)
            every epoch. A tf.data dataset is used as it is.
        callbacks: Keras callbacks (e.g. `ModelCheckpoint`, `EarlyStopping`).
        validation_data: `(x_val, y_val)`, `(x_val, y_val, sample_weight)`,
            a dataset or a Sequence, evaluated after each epoch (`val_` logs).
        initial_epoch: Epoch at which to start (to resume a run).
        seed: Keyword-only. Seed of the shuffling; None lets replica 0 choose.

    Returns:
        A `keras.callbacks.History`: `.history` maps `loss`, each metric and
        their `val_` versions to per-epoch values.

    Raises:
        WorkerFailureError: (a `RuntimeError`) if a collective fails because a
            peer worker died, hung past the strategy's timeout, or lost its
            connection; raised on the surviving workers instead of hanging.
        RuntimeError: If the model is not compiled.
        ValueError: If the model was built outside the strategy's scope, the
            data are inconsistent, or workers see different numbers of batches.
        TypeError: If `model` or the data have the wrong type.

    Example:

    ```python
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
    with strategy.scope():
        model = build_model()
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    history = distributed_fit(model, x, y, strategy=strategy, batch_size=256, epochs=20)
    ```
    """
    from .progbar import Progbar

    strategy = model.distribute_strategy if strategy is None and isinstance(model, keras.Model) else strategy
    _check_model(model, strategy)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"distributed_fit: batch_size={batch_size!r} must be a positive int (the global batch)"
        )
    source = _make_source(x, y, sample_weight, batch_size, shuffle)
    validation = None if validation_data is None else _validation_source(validation_data, batch_size)
    seed, num_batches = _agree_between_workers(strategy, seed, source.num_batches())

    target = num_batches if num_batches >= 0 else None
    steps = _Steps(model, strategy)
    with strategy.scope():  # Keras' own pre-fit build of the metric and optimizer state
        model._symbolic_build(data_batch=tuple(_cast_floats(part) for part in next(source.batches(0, seed))))
    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        [*(callbacks or []), history], model=model, epochs=epochs, steps=target, verbose=verbose
    )
    model.stop_training = False
    callback_list.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}", flush=True)
        bar = Progbar(target, verbose=verbose)
        callback_list.on_epoch_begin(epoch)

        def after_batch(index: int, logs: dict[str, float], bar: Progbar = bar) -> None:
            callback_list.on_train_batch_end(index, logs)
            bar.stateful_metrics.update(logs)  # the logs are running means already
            bar.update(index + 1, list(logs.items()))

        try:
            logs = _run_epoch(
                steps,
                steps.train,
                source.batches(epoch, seed),
                callback_list.on_train_batch_begin,
                after_batch,
            )
            if validation is not None:
                val_logs = _run_epoch(steps, steps.test, validation.batches(epoch, seed))
                logs.update({f"val_{name}": value for name, value in val_logs.items()})
        except _PEER_FAILURES as error:
            raise _peer_failure(error, f"epoch {epoch + 1}") from error
        source.end_epoch()
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end()
    return history


def _validation_source(data: Any, batch_size: int) -> _Source:
    if isinstance(data, tf.data.Dataset) or _is_batch_sequence(data):
        return _make_source(data, None, None, batch_size, shuffle=False)
    x, y, weights = _unpack(data, "validation_data")
    return _ArraySource(x, y, weights, batch_size, shuffle=False)
