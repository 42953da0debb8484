"""What each worker of `distributed_fit` reads for each step, read ahead in background threads.

A *plan* turns a step (pass over the data, batch of that pass) into this
worker's share of the global batch: one part `(x, y[, sample_weight])` per
local replica, as numpy structures.

- `RowPlan` (numpy arrays, memmaps, `HDF5Matrix`, h5py datasets, or an
  `ArraySequence`): the global batch is a list of rows; replica `i` of `R`
  trains on its contiguous `np.array_split` share, and this worker reads only
  the rows of its own replicas, through `ArraySequence`'s reader (so sorted,
  de-duplicated reads, caller's order restored).
- `BatchPlan` (a `Sequence`/`PyDataset`, whole batches): worker `r` of `N`
  takes batch `order[s * N + r]` of step `s` (the global batch is the union of
  the `N` batches); when fewer than `N` batches remain at the end of a pass,
  every worker reads them all and keeps its replicas' share of their union.
- `StreamPlan` (a `tf.data.Dataset`): every worker iterates the whole dataset
  and keeps its replicas' share of each global batch.

`prefetched` runs the reads ahead of training in threads, at most
`max_queue_size` steps ahead, and re-raises their errors in the training loop.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._chunk_shuffle import make_windows
from ._keras import KERAS3, import_keras, import_tensorflow
from ._tree import tree
from .sequence import ArraySequence

keras = import_keras("distributed_fit", line=KERAS3)
tf = import_tensorflow("distributed_fit")
nest = tree()  # keras.tree; looked up once, not inside traced steps

__all__ = [
    "BatchPlan",
    "Layout",
    "Plan",
    "RowPlan",
    "Step",
    "StreamPlan",
    "layout_of",
    "prefetched",
    "unpack",
]

Part = tuple[Any, ...]  # (x, y) or (x, y, sample_weight) of one replica, numpy structures


@dataclass(frozen=True)
class Layout:
    """The global replica count, and the (consecutive) global ids of this worker's replicas."""

    replicas: int
    local: tuple[int, ...]

    @property
    def workers(self) -> int:
        return self.replicas // len(self.local)

    @property
    def rank(self) -> int:
        return self.local[0] // len(self.local)


def layout_of(strategy: Any) -> Layout:
    """Asks `strategy` which replicas run in this process."""
    ids = strategy.experimental_local_results(
        strategy.experimental_distribute_values_from_function(
            lambda context: context.replica_id_in_sync_group
        )
    )
    local = tuple(int(replica) for replica in ids)
    if list(local) != list(range(local[0], local[0] + len(local))):
        raise ValueError(
            f"distributed_fit: this worker's replicas have ids {local}; sharded reading needs "
            "consecutive ids (as MirroredStrategy and MultiWorkerMirroredStrategy assign them)"
        )
    return Layout(strategy.num_replicas_in_sync, local)


@dataclass
class Step:
    """This worker's parts of one global batch, and the global batch's rows (None: only the replicas
    know, each worker having read a whole batch of its own)."""

    parts: dict[int, Part]
    global_rows: int | None


def _bounds(rows: int, parts: int) -> list[int]:
    """Start offsets of `np.array_split(range(rows), parts)`'s pieces, and `rows` at the end."""
    small, large = divmod(rows, parts)
    return [index * small + min(index, large) for index in range(parts + 1)]


def _rows_of(structure: Any, start: int, stop: int) -> Any:
    return nest.map_structure(lambda array: array[start:stop], structure)


def _num_rows(structure: Any) -> int:
    return len(nest.flatten(structure)[0])


def _concatenate(parts: list[Part]) -> Part:
    return tuple(nest.map_structure(lambda *arrays: np.concatenate(arrays), *parts))


def unpack(batch: Any, source: str) -> Part:
    """`(x, y)` or `(x, y, sample_weight)` of one batch from a Sequence or dataset, as numpy structures."""
    if isinstance(batch, tuple | list) and len(batch) in (2, 3):
        return tuple(nest.map_structure(np.asarray, part) for part in batch)
    raise ValueError(
        f"distributed_fit: each batch of {source} must be a tuple (x, y) or (x, y, sample_weight); "
        f"got {type(batch).__name__} of length {len(batch) if hasattr(batch, '__len__') else 'n/a'}"
    )


class Finisher:
    """Turns a part into what the step takes: class weights applied, floats in Keras' float type."""

    def __init__(self, class_weight: Mapping[Any, float] | None) -> None:
        self._class_weight = None if class_weight is None else _class_weight_table(class_weight)

    def __call__(self, part: Part) -> Part:
        x, y, weights = (*part, None)[:3]
        if self._class_weight is not None:
            from_classes = self._class_weight_of(y)
            weights = from_classes if weights is None else np.asarray(weights) * from_classes
        finished = (x, y) if weights is None else (x, y, weights)
        return tuple(_cast_floats(item) for item in finished)

    def _class_weight_of(self, y: Any) -> np.ndarray:
        """Keras' rule: one-hot targets give their argmax, others their rounded value; unlisted: 1."""
        if not isinstance(y, np.ndarray):
            raise ValueError(
                "distributed_fit: class_weight needs a single target array; got targets of type "
                f"{type(y).__name__}. For several outputs, give per-output weights as sample_weight"
            )
        labels = y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0]
        labels = np.rint(labels).astype(np.int64)
        table = self._class_weight
        assert table is not None
        inside = (labels >= 0) & (labels < len(table))
        weights = np.ones(len(labels), dtype=keras.backend.floatx())
        weights[inside] = table[labels[inside]]
        return weights


def _class_weight_table(class_weight: Mapping[Any, float]) -> np.ndarray:
    if not isinstance(class_weight, Mapping) or not class_weight:
        raise ValueError(
            f"distributed_fit: class_weight={class_weight!r:.80} must be a non-empty dict mapping class "
            "indices (ints) to weights"
        )
    keys = list(class_weight)
    if not all(isinstance(key, int | np.integer) and not isinstance(key, bool) and key >= 0 for key in keys):
        raise ValueError(
            f"distributed_fit: class_weight keys must be class indices (ints >= 0); got {keys!r:.80}"
        )
    table = np.ones(max(int(key) for key in keys) + 1, dtype=keras.backend.floatx())
    for key, value in class_weight.items():
        table[int(key)] = float(value)
    return table


def _cast_floats(structure: Any) -> Any:
    """Float arrays in Keras' float type (what `model.fit` feeds), other arrays unchanged."""

    def cast(array: Any) -> Any:
        array = np.asarray(array)
        return array.astype(keras.backend.floatx()) if array.dtype.kind == "f" else array

    return nest.map_structure(cast, structure)


def _parts(batch: Part, replicas: tuple[int, ...], bounds: list[int], finish: Finisher) -> dict[int, Part]:
    """Replica `replicas[j]` gets rows `bounds[j]:bounds[j + 1]` of `batch`."""
    return {replica: finish(_rows_of(batch, bounds[j], bounds[j + 1])) for j, replica in enumerate(replicas)}


def _local_bounds(rows: int, layout: Layout) -> list[int]:
    """Where this worker's replicas' shares of a global batch of `rows` rows start and end."""
    bounds = _bounds(rows, layout.replicas)
    return bounds[layout.local[0] : layout.local[-1] + 2]


class RowPlan:
    """Global batches of rows of array-likes; each worker reads only its replicas' rows.

    `rows` is the range of rows trained on (`validation_split` keeps the tail
    apart). `shuffle`: False (in order), True (rows shuffled each pass),
    'chunks' (an `ArraySequence`'s chunk-aware order, drawn per pass), 'batch'
    (the order of the full batches shuffled, Keras 2's `shuffle='batch'`) or
    'batches' (the order of all batches shuffled: a `Sequence`'s rule).
    """

    def __init__(
        self,
        source: ArraySequence,
        rows: range,
        batch_size: int,
        shuffle: bool | str,
        layout: Layout,
        finish: Finisher,
    ) -> None:
        self.source, self.rows, self.batch_size = source, rows, batch_size
        self.shuffle, self.layout, self.finish = shuffle, layout, finish
        self.batches_per_pass: int | None = math.ceil(len(rows) / batch_size)
        self.seed = 0

    @functools.lru_cache(maxsize=2)  # noqa: B019 - a plan lives for one distributed_fit call
    def _order(self, pass_index: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, pass_index])
        count = self.batches_per_pass or 0
        if self.shuffle is True:
            return rng.permutation(len(self.rows))
        if self.shuffle == "chunks":  # an ArraySequence's chunk-aware order, drawn for this pass
            leaves = self.source._all_leaves()
            budget = self.source._shuffle_buffer_bytes
            return make_windows(leaves, len(self.rows), self.batch_size, budget, rng).order
        if self.shuffle == "batch":
            full = len(self.rows) // self.batch_size
            return np.concatenate([rng.permutation(full), np.arange(full, count)])
        return rng.permutation(count) if self.shuffle == "batches" else np.arange(count)

    def _global_rows(self, pass_index: int, batch: int) -> np.ndarray | range:
        """Rows of the global batch, relative to `self.rows`."""
        if self.shuffle in (True, "chunks"):
            return self._order(pass_index)[batch * self.batch_size : (batch + 1) * self.batch_size]
        first = int(self._order(pass_index)[batch]) * self.batch_size
        return range(first, min(first + self.batch_size, len(self.rows)))

    def produce(self, pass_index: int, batch: int) -> Step:
        rows = self._global_rows(pass_index, batch)
        bounds = _local_bounds(len(rows), self.layout)
        mine = rows[bounds[0] : bounds[-1]]
        offset = self.rows.start
        if isinstance(mine, range):
            read = self.source._read(slice(offset + mine.start, offset + mine.stop))
        else:
            read = self.source._read(np.asarray(mine) + offset)
        relative = [bound - bounds[0] for bound in bounds]
        return Step(_parts(read, self.layout.local, relative, self.finish), len(rows))

    def end_pass(self) -> None:
        """Array rows keep no per-pass state."""


class BatchPlan:
    """Whole batches of a `Sequence`: worker `r` of `N` trains on batch `order[s * N + r]` at step `s`."""

    def __init__(self, sequence: Any, shuffle: bool, layout: Layout, finish: Finisher) -> None:
        self.sequence, self.shuffle, self.layout, self.finish = sequence, shuffle, layout, finish
        self.batches_per_pass: int | None = math.ceil(len(sequence) / layout.workers)
        self.seed = 0

    @functools.lru_cache(maxsize=2)  # noqa: B019 - a plan lives for one distributed_fit call
    def _order(self, pass_index: int) -> np.ndarray:
        count = len(self.sequence)
        if self.shuffle:
            return np.random.default_rng([self.seed, pass_index]).permutation(count)
        return np.arange(count)

    def _read(self, index: int) -> Part:
        return unpack(self.sequence[int(index)], type(self.sequence).__name__)

    def produce(self, pass_index: int, step: int) -> Step:
        workers, local = self.layout.workers, self.layout.local
        group = self._order(pass_index)[step * workers : (step + 1) * workers]
        if len(group) == workers:
            own = self._read(group[self.layout.rank])
            rows = _num_rows(own[0])
            parts = _parts(own, local, _bounds(rows, len(local)), self.finish)
            return Step(parts, rows if workers == 1 else None)
        union = _concatenate([self._read(index) for index in group])
        rows = _num_rows(union[0])
        return Step(_parts(union, local, _local_bounds(rows, self.layout), self.finish), rows)

    def end_pass(self) -> None:
        self.sequence.on_epoch_end()


class StreamPlan:
    """Global batches of a `tf.data.Dataset`, read in order by every worker."""

    def __init__(self, dataset: Any, layout: Layout, finish: Finisher) -> None:
        self.dataset, self.layout, self.finish = dataset, layout, finish
        cardinality = int(dataset.cardinality())
        self.infinite = cardinality == tf.data.INFINITE_CARDINALITY
        self.batches_per_pass: int | None = cardinality if cardinality >= 0 else None
        self._iterator: Iterator[Any] | None = None

    def next_step(self, wrap: bool) -> Step | None:
        """The next global batch; at the end of the dataset None, or (`wrap`) the first batch again."""
        if self._iterator is None:
            self._iterator = iter(self.dataset)
        try:
            batch = next(self._iterator)
        except StopIteration:
            self._iterator = None
            return self.next_step(False) if wrap else None
        part = unpack(batch, "the dataset")
        rows = _num_rows(part[0])
        return Step(_parts(part, self.layout.local, _local_bounds(rows, self.layout), self.finish), rows)

    def position(self, steps: int, wrap: bool) -> None:
        """Starts a fresh pass and skips `steps` global batches (wrapping around when `wrap`)."""
        self._iterator = None
        for _ in range(steps):
            self.next_step(wrap)

    @property
    def started(self) -> bool:
        return self._iterator is not None


Plan = RowPlan | BatchPlan | StreamPlan


def prefetched(
    tasks: Iterator[Callable[[], Step | None]], threads: int, depth: int
) -> Generator[Step, None, None]:
    """Runs `tasks` in `threads` background threads, up to `depth` results ahead of the consumer.

    Yields the results in task order and stops at the first None. An error in
    a task is raised here, in the consumer; closing the iterator cancels the
    tasks not yet started and waits for the running ones (each one read).
    """
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="kutils-distributed-input") as pool:
        pending: deque[Future[Step | None]] = deque()
        try:
            for task in tasks:
                pending.append(pool.submit(task))
                if len(pending) <= depth:
                    continue
                step = pending.popleft().result()
                if step is None:
                    return
                yield step
            while pending:
                step = pending.popleft().result()
                if step is None:
                    return
                yield step
        finally:
            for future in pending:
                future.cancel()


def epoch_steps(
    plan: Plan,
    epoch: int,
    steps_per_epoch: int | None,
    start: int,
    threads: int,
    depth: int,
    ready: Step | None = None,
) -> Generator[Step, None, None]:
    """The steps of `epoch` from step `start`, read ahead; a pass never reads ahead into the next one.

    `ready`, if given, is the first of these steps, read already (it built the model).

    Step `g = epoch * steps_per_epoch + step` of the whole run is batch
    `g % per_pass` of pass `g // per_pass`: with `steps_per_epoch`, the data
    continue across epochs and wrap around (Keras 2 `fit_generator`).
    """
    if isinstance(plan, StreamPlan):
        stream = plan  # keeps the narrowed type inside the lambdas
        if steps_per_epoch is None:
            stream.position(start, wrap=False)
            tasks: Iterator[Callable[[], Step | None]] = (
                lambda: stream.next_step(wrap=False) for _ in _forever()
            )
        else:
            if not stream.started:
                stream.position(epoch * steps_per_epoch + start, wrap=True)
            tasks = (lambda: stream.next_step(wrap=True) for _ in range(steps_per_epoch - start))
        with contextlib.closing(prefetched(tasks, 1, depth)) as steps:
            yield from steps
        return
    per_pass = plan.batches_per_pass
    assert per_pass is not None
    per_epoch = steps_per_epoch or per_pass
    position, end = epoch * per_epoch + start, (epoch + 1) * per_epoch
    while position < end:
        pass_index, first = divmod(position, per_pass)
        stop = min(per_pass, first + end - position)
        tasks = _reads(plan, pass_index, range(first, stop), ready)
        ready = None
        with contextlib.closing(prefetched(tasks, threads, depth)) as steps:
            yield from steps
        if stop == per_pass:
            plan.end_pass()
        position += stop - first


def _reads(
    plan: RowPlan | BatchPlan, pass_index: int, batches: range, ready: Step | None
) -> Iterator[Callable[[], Step | None]]:
    for batch in batches:
        if ready is not None and batch == batches.start:
            yield lambda: ready
        else:
            yield functools.partial(plan.produce, pass_index, batch)


def _forever() -> Iterator[None]:
    while True:
        yield None
