"""`distributed_fit`: train a compiled Keras 3 model under any `tf.distribute` strategy.

Keras 3 `model.fit` fails under `MultiWorkerMirroredStrategy` on TF 2.21
(https://github.com/keras-team/keras/issues/20585: "Attempt to convert a value
(PerReplica...) to a Tensor"). `distributed_fit` runs the model's own loss,
optimizer and metrics in a custom loop around `strategy.run`, which works
under every strategy:

- every worker plans the same global batches (same data, same shuffling seed,
  agreed on at start) and reads only its replicas' share of each
  (`_dist_input`), ahead of training in background threads;
- each replica's loss is scaled by the *global* batch size, so the summed
  gradients equal those of one device seeing the whole batch (`_dist_steps`);
- with `backup_dir=`, the run is backed up and resumes after a worker dies or
  is preempted (`_dist_backup`); a collective that fails because a peer died
  or hung becomes a `WorkerFailureError` instead of a hang.

This module needs TensorFlow and Keras for everything, so it imports them at
the top; `kutils` only imports it on first use of `distributed_fit`.

The checks of its arguments and the plan for each input kind are in
`_dist_args`; this module holds the loop.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from ._dist_args import (
    cap_steps,
    check_infinite,
    check_save_freq,
    optional_positive_int,
    plans,
    positive_int,
    validates_after,
    validation_epochs,
    validation_plan,
)
from ._dist_backup import Backups, Position, PreemptionWatch
from ._dist_input import BatchPlan, Finisher, Plan, Step, StreamPlan, epoch_steps, layout_of
from ._dist_steps import (
    PEER_FAILURES,
    ReplicaSteps,
    StepResult,
    agree_between_workers,
    describe_peer_failure,
    random_seed,
)
from ._keras import KERAS3, TF_KERAS, import_keras, import_tensorflow, line_of
from .errors import WorkerFailureError

keras = import_keras("distributed_fit", line=KERAS3)
tf = import_tensorflow("distributed_fit")

__all__ = ["WorkerFailureError", "distributed_fit"]


# ----------------------------------------------------------------------------- the loop


def _check_model(model: Any, strategy: Any) -> None:
    if line_of(model) == TF_KERAS:
        raise TypeError(
            f"distributed_fit: `model` {model.name!r} is a tf_keras model; distributed_fit trains Keras 3 "
            "models. tf_keras' own model.fit runs under tf.distribute: build and compile the model inside "
            "`with strategy.scope():`, then call model.fit(...), passing workers=/use_multiprocessing= for "
            "a kutils.Sequence (see docs/migrating_to_tf_distribute.md)."
        )
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


class _Run:
    """One `distributed_fit` call's loop state: the steps, callbacks, backups and progress."""

    def __init__(
        self,
        steps: ReplicaSteps,
        callbacks: Any,
        backups: Backups | None,
        save_every: int | None,
        preemption: PreemptionWatch,
        verbose: int,
    ) -> None:
        self.steps = steps
        self.callbacks = callbacks
        self.backups = backups
        self.save_every = save_every
        self.preemption = preemption
        self.verbose = verbose
        self.preempted = False

    def train_epoch(
        self, batches: Iterator[Step], position: Position, target: int | None
    ) -> dict[str, float]:
        """Trains on `batches` from `position`, backing up as asked; stops early when preempted."""
        from .progbar import Progbar

        bar = Progbar(target, verbose=self.verbose)
        logs: dict[str, float] = {}
        for step in batches:
            self.callbacks.on_train_batch_begin(position.step)
            logs = self._account(self.steps.train(step), position)
            position.step += 1
            position.steps_done += 1
            self.callbacks.on_train_batch_end(position.step - 1, logs)
            bar.stateful_metrics.update(logs)  # the logs are running means already
            bar.update(position.step, list(logs.items()))
            due = self.save_every is not None and position.steps_done % self.save_every == 0
            if self.backups is not None and ((due and self.backups.writer) or self.preemption.requested):
                self.backups.save(position)
            if self.preemption.requested:
                self.preempted = True
                break
        return logs

    @staticmethod
    def _account(result: StepResult, position: Position) -> dict[str, float]:
        loss, rows, metrics = result
        position.loss_total += float(loss) * int(rows)
        position.rows_total += int(rows)
        mean = position.loss_total / max(position.rows_total, 1)
        return {"loss": mean, **{name: float(value) for name, value in metrics.items()}}

    def evaluate(self, batches: Iterator[Step]) -> dict[str, float]:
        self.steps.model.reset_metrics()
        totals = Position(0, 0, 0, 0)
        logs: dict[str, float] = {}
        for step in batches:
            logs = self._account(self.steps.test(step), totals)
        return logs

    def end_epoch(self, position: Position) -> None:
        """Backs up at the epoch end (the writer, or a worker asked to stop), then obeys SIGTERM."""
        if self.backups is not None and (self.backups.writer or self.preemption.requested):
            self.backups.save(position)
        if self.preemption.requested:
            self.preempted = True

    def stop_for_preemption(self) -> None:
        self.preemption.exit()  # ends the process, unless the program handles SIGTERM itself
        self.steps.model.stop_training = True


def distributed_fit(
    model: Any,
    x: Any = None,
    y: Any = None,
    *,
    strategy: Any = None,
    batch_size: int = 32,
    epochs: int = 1,
    verbose: int = 1,
    callbacks: Sequence[Any] | None = None,
    validation_split: float = 0.0,
    validation_data: Any = None,
    shuffle: bool | str = True,
    class_weight: Mapping[int, float] | None = None,
    sample_weight: Any = None,
    initial_epoch: int = 0,
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    validation_freq: int | Collection[int] = 1,
    max_queue_size: int = 10,
    workers: int | None = None,
    use_multiprocessing: bool = False,
    seed: int | None = None,
    backup_dir: str | os.PathLike[str] | None = None,
    save_freq: int | str = "epoch",
) -> Any:
    """Trains a compiled Keras 3 model under a `tf.distribute` strategy, like `model.fit`.

    Works under `MirroredStrategy` (several devices of one machine),
    `MultiWorkerMirroredStrategy` (several machines, where Keras 3 `model.fit`
    fails on TF 2.21, https://github.com/keras-team/keras/issues/20585) and
    the default strategy. Uses the model's compiled loss, optimizer and metrics.

    Every worker must call it with the same data and arguments. All workers
    plan the same global batches (shuffled per pass over the data from a seed
    that replica 0 chooses and all adopt); each replica trains on its share of
    every global batch, and each worker reads only its replicas' rows (arrays,
    `ArraySequence`) or its own whole batches (a `Sequence`: at step `s`, worker
    `r` of `N` takes batch `order[s * N + r]`, the global batch being the
    union of the `N` batches). Each replica's loss is scaled by the global
    batch size, so the result matches one device trained on the same global
    batches. Batches are read ahead in background threads (`max_queue_size`
    steps ahead, `workers` threads), overlapping the training steps.

    Args:
        model: A Keras 3 model built and compiled inside `strategy.scope()`.
        x: Input data: numpy arrays or array-likes (e.g. `HDF5Matrix`), or a
            list/dict of them; or a `tf.data.Dataset` or a `Sequence` (Keras
            `PyDataset`, `kutils.Sequence`, `kutils.ArraySequence`) yielding
            `(x, y)` or `(x, y, sample_weight)` batches.
        y: Targets, as `x` (arrays only; None with a dataset or Sequence).
        strategy: The `tf.distribute.Strategy`; None means the strategy the
            model was created under (`model.distribute_strategy`).
        batch_size: Global batch size (arrays only), split across replicas.
        epochs: Index of the epoch to stop after (as in `model.fit`).
        verbose: 0 silent, 1 progress bar, 2 one line per epoch (kutils
            `Progbar`, Keras 2.2.4 look). Use the same value on all workers
            or 0 on all but the chief; the output does not affect training.
        callbacks: Keras callbacks (e.g. `ModelCheckpoint`, `EarlyStopping`).
        validation_split: Fraction of the array rows (the last ones, before
            shuffling, as in Keras) held out for validation. Arrays only.
        validation_data: `(x_val, y_val)`, `(x_val, y_val, sample_weight)`,
            a dataset or a Sequence; overrides `validation_split`.
        shuffle: Shuffle the rows (arrays: True, or 'batch' to shuffle the
            order of whole batches, Keras 2's choice for HDF5 data) or the
            batch order (a Sequence) every pass. A tf.data dataset is used as
            it is; an `ArraySequence` keeps its own `shuffle` mode (its batch
            order is shuffled when that is False and `shuffle` is True).
        class_weight: Dict mapping class indices to weights, applied to the
            targets of every input kind as Keras does (one-hot targets: their
            argmax; others: their rounded value; unlisted classes: 1). Given
            together with sample weights, the two multiply (as in tf.keras;
            Keras 2.2.4 dropped class_weight then, Keras 3 refuses).
        sample_weight: Per-sample weights for array data (a Sequence or a
            dataset yields them as the third item of its batches).
        initial_epoch: Epoch at which to start (to resume a run).
        steps_per_epoch: Steps per epoch; None means one pass over the data.
            The data continue across epochs and wrap around (as in Keras 2
            `fit_generator`); required for an infinite dataset.
        validation_steps: Validation steps per validation (at most one pass).
        validation_freq: Validate every n epochs (an int) or after the listed
            1-based epochs (a collection).
        max_queue_size: Steps read ahead of training (the bounded queue).
        workers: Threads reading batches of a `Sequence` (default: its own
            `workers`, else 1). Arrays and datasets are read by one thread.
        use_multiprocessing: Must be False: batches are read in threads.
        seed: Seed of the shuffling; None lets replica 0 choose.
        backup_dir: Directory for backups of the run (model and optimizer
            state, position); a new run with the same directory resumes from
            the newest backup, and a SIGTERM saves one before the process ends.
            Must be storage every worker sees. Removed after a complete run.
        save_freq: 'epoch' (backups at epoch ends) or a number of steps
            between backups (plus epoch ends).

    Returns:
        A `keras.callbacks.History`: `.history` maps `loss`, each metric and
        their `val_` versions to per-epoch values.

    Raises:
        WorkerFailureError: (a `RuntimeError`) if a collective fails because a
            peer worker died, hung past the strategy's timeout, or lost its
            connection; raised on the surviving workers instead of hanging.
        RuntimeError: If the model is not compiled.
        ValueError: If the model was built outside the strategy's scope, the
            data or arguments are inconsistent, or workers disagree on them.
        TypeError: If `model` or the data have the wrong type, or `model` is
            a tf_keras model (tf_keras' own `model.fit` runs under a strategy).

    Example:

    ```python
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
    with strategy.scope():
        model = build_model()
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    history = distributed_fit(model, x, y, strategy=strategy, batch_size=256, epochs=20,
                              validation_split=0.1, backup_dir="/shared/run1/backup")
    ```
    """
    strategy = model.distribute_strategy if strategy is None and isinstance(model, keras.Model) else strategy
    _check_model(model, strategy)
    batch_size = positive_int(batch_size, "batch_size (the global batch)")
    steps_per_epoch = optional_positive_int(steps_per_epoch, "steps_per_epoch")
    validation_steps = optional_positive_int(validation_steps, "validation_steps")
    validate_on = validation_epochs(validation_freq)
    depth = positive_int(max_queue_size, "max_queue_size")
    save_every = check_save_freq(save_freq)
    if use_multiprocessing:
        raise ValueError(
            "distributed_fit: use_multiprocessing=True is not supported; batches are read ahead in "
            "threads (workers=, max_queue_size=), which overlap the training steps"
        )
    if not 0.0 <= float(validation_split) < 1.0:
        raise ValueError(f"distributed_fit: validation_split={validation_split!r} must be in [0, 1)")
    if shuffle not in (True, False, "batch"):
        raise ValueError(f"distributed_fit: shuffle={shuffle!r} must be True, False or 'batch'")

    layout = layout_of(strategy)
    train, validation = plans(
        x,
        y,
        sample_weight,
        batch_size=batch_size,
        shuffle=shuffle,
        validation_split=float(validation_split),
        layout=layout,
        finish=Finisher(class_weight),
    )
    if validation_data is not None:
        validation = validation_plan(validation_data, batch_size, layout)
    check_infinite(train, steps_per_epoch, "steps_per_epoch", "training")
    check_infinite(validation, validation_steps, "validation_steps", "validation")
    threads = 1
    if isinstance(train, BatchPlan):
        threads = positive_int(workers if workers is not None else getattr(x, "workers", 1) or 1, "workers")
    per_epoch = steps_per_epoch or train.batches_per_pass

    backups = None if backup_dir is None else Backups(backup_dir, model, writer=layout.rank == 0)
    stored = backups.read() if backups is not None else None
    start = (
        stored[0]
        if stored is not None
        else Position(initial_epoch, 0, 0, random_seed() if seed is None else seed)
    )
    start.seed = agree_between_workers(
        strategy,
        start.seed,
        {
            "the number of batches per epoch": -1 if per_epoch is None else per_epoch,
            "the epoch to start or resume at": start.epoch,
            "the step to resume at": start.step,
        },
    )
    for plan in (train, validation):
        if plan is not None and not isinstance(plan, StreamPlan):
            plan.seed = start.seed

    first = _first_step(train, start, per_epoch)
    with strategy.scope():  # Keras' own pre-fit build of the metric and optimizer state
        model._symbolic_build(data_batch=first.parts[layout.local[0]])
    if stored is not None and backups is not None:
        backups.load(stored[1])

    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        [*(callbacks or []), history], model=model, epochs=epochs, steps=per_epoch, verbose=verbose
    )
    model.stop_training = False
    callback_list.on_train_begin()
    with PreemptionWatch(backups is not None) as preemption:
        run = _Run(ReplicaSteps(model, strategy), callback_list, backups, save_every, preemption, verbose)
        position = start
        for epoch in range(start.epoch, epochs):
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}", flush=True)
            callback_list.on_epoch_begin(epoch)
            if position.step == 0:
                position.loss_total, position.rows_total = 0.0, 0
            model.reset_metrics()
            try:
                ready = first if epoch == start.epoch else None
                batches = epoch_steps(train, epoch, steps_per_epoch, position.step, threads, depth, ready)
                with contextlib.closing(batches):  # stops the reader threads also on an error
                    logs = run.train_epoch(batches, position, per_epoch)
                if run.preempted:
                    run.stop_for_preemption()
                    return history
                if validation is not None and validates_after(epoch, validate_on):
                    if isinstance(validation, StreamPlan):
                        validation.position(0, wrap=False)
                    val_steps = cap_steps(validation_steps, validation)
                    with contextlib.closing(
                        epoch_steps(validation, 0, val_steps, 0, threads, depth)
                    ) as steps:
                        val_logs = run.evaluate(steps)
                    logs.update({f"val_{name}": value for name, value in val_logs.items()})
            except PEER_FAILURES as error:
                raise WorkerFailureError(
                    describe_peer_failure(error, f"epoch {epoch + 1}", backups is not None)
                ) from error
            position = Position(epoch + 1, 0, position.steps_done, position.seed)
            callback_list.on_epoch_end(epoch, logs)
            run.end_epoch(position)
            if run.preempted:
                run.stop_for_preemption()
                return history
            if model.stop_training:
                break
    callback_list.on_train_end()
    if backups is not None:
        backups.finish()
    return history


def _first_step(plan: Plan, start: Position, per_epoch: int | None) -> Step:
    """The batch that builds the model: the first one to train on, read once (a dataset's first batch)."""
    if isinstance(plan, StreamPlan):
        probe = StreamPlan(plan.dataset, plan.layout, plan.finish)
        step = probe.next_step(wrap=False)
        if step is None:
            raise ValueError("distributed_fit: the training dataset is empty")
        return step
    per_pass = plan.batches_per_pass or 0
    if per_pass == 0:
        raise ValueError("distributed_fit: the training data hold no batches")
    pass_index, batch = divmod(start.epoch * (per_epoch or per_pass) + start.step, per_pass)
    return plan.produce(pass_index, batch)
