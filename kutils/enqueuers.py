"""Keras 2.2.4's enqueuers: `SequenceEnqueuer`, `OrderedEnqueuer`, `GeneratorEnqueuer`.

They prefetch batches with threads or processes into a bounded queue that
`get()` drains. Compared with 2.2.4: exceptions in workers (and in
`on_epoch_end`) are re-raised in the caller with the worker's traceback,
`stop()` always leaves no worker thread or process behind (a stuck worker is
terminated after `timeout`), a dead worker process is reported instead of
hanging, and process workers default to the 'forkserver' start method so that
no worker is forked from a process running TensorFlow threads (except for a
main script without a `__main__` guard, see `kutils._main_module`).
"""

from __future__ import annotations

import abc
import queue
import random
import threading
import time
import warnings
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import CancelledError, Future
from concurrent.futures import wait as wait_futures
from types import TracebackType
from typing import Any

import numpy as np

from ._producers import Done, Failure, ProducerProcesses
from ._workers import ProcessWorkers, ThreadWorkers, process_context

__all__ = ["GeneratorEnqueuer", "OrderedEnqueuer", "SequenceEnqueuer"]

_POLL_SECONDS = 0.1


def _check_start_args(workers: Any, max_queue_size: Any) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r} must be an int >= 1.")
    if isinstance(max_queue_size, bool) or not isinstance(max_queue_size, int) or max_queue_size < 1:
        raise ValueError(f"max_queue_size={max_queue_size!r} must be an int >= 1.")


class SequenceEnqueuer(abc.ABC):
    """Base class to enqueue inputs.

    The task of an Enqueuer is to use parallelism to speed up preprocessing.
    This is done with processes or threads.

    Args:
        sequence: A `kutils.Sequence` (or a generator, for `GeneratorEnqueuer`).
        use_multiprocessing: Use processes instead of threads.

    Example:

    ```python
    enqueuer = OrderedEnqueuer(sequence)
    enqueuer.start(workers=2, max_queue_size=10)
    batches = enqueuer.get()
    for _ in range(len(sequence)):
        x, y = next(batches)
    enqueuer.stop()
    ```
    """

    def __init__(self, sequence: Any, use_multiprocessing: bool = False) -> None:
        self.sequence = sequence
        self.use_multiprocessing = use_multiprocessing
        self.workers = 0
        self.queue: queue.Queue[Any] | None = None
        self.run_thread: threading.Thread | None = None
        self.stop_signal: threading.Event | None = None

    def is_running(self) -> bool:
        """Whether the enqueuer has been started and not stopped."""
        return self.stop_signal is not None and not self.stop_signal.is_set()

    def start(self, workers: int = 1, max_queue_size: int = 10) -> None:
        """Starts the workers.

        Args:
            workers: Number of worker threads or processes.
            max_queue_size: Maximum number of batches prefetched and not yet consumed.

        Raises:
            ValueError: If `workers` or `max_queue_size` is not a positive int.
            TypeError: If process workers need a picklable sequence and it is not.
        """
        _check_start_args(workers, max_queue_size)
        if self.is_running():
            self.stop()
        self.workers = workers
        self.stop_signal = threading.Event()
        try:
            self._start(workers, max_queue_size)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float | None = None) -> None:
        """Stops the workers and waits for them; safe to call several times.

        Args:
            timeout: Seconds to wait for each worker before terminating it
                (processes) or giving up on it (threads); None waits 10 s.
        """
        if self.stop_signal is None:
            return
        self.stop_signal.set()
        self._stop(10.0 if timeout is None else timeout)
        self.run_thread = None

    def __enter__(self) -> SequenceEnqueuer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _put(self, item: Any) -> bool:
        """Puts `item` in the queue unless stopped first; returns whether it was put."""
        assert self.queue is not None
        assert self.stop_signal is not None
        while not self.stop_signal.is_set():
            try:
                self.queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    @abc.abstractmethod
    def _start(self, workers: int, max_queue_size: int) -> None:
        """Starts the workers and the queue."""

    @abc.abstractmethod
    def _stop(self, timeout: float) -> None:
        """Stops the workers started by `_start`."""

    @abc.abstractmethod
    def get(self) -> Iterator[Any]:
        """Creates a generator to extract data from the queue.

        Yields:
            The next batch, as the sequence or generator produced it.
        """


_NO_OP_EPOCH_ENDS = {("kutils.sequence", "Sequence.on_epoch_end"), ("keras", "PyDataset.on_epoch_end")}


def _overrides_on_epoch_end(sequence: Any) -> bool:
    """Whether `on_epoch_end` may change the sequence (it is not one of the base classes' no-ops)."""
    method = getattr(type(sequence), "on_epoch_end", None)
    module = getattr(method, "__module__", "") or ""
    key = ("keras" if module.startswith("keras") else module, getattr(method, "__qualname__", ""))
    return method is not None and key not in _NO_OP_EPOCH_ENDS


# Imported once by the forkserver, so that workers do not each import Keras to unpickle a Sequence.
_FORKSERVER_PRELOAD = ("kutils.sequence",)


class OrderedEnqueuer(SequenceEnqueuer):
    """Builds an Enqueuer from a Sequence, yielding its batches in order.

    Each epoch submits every index of the sequence (shuffled when `shuffle`) to
    the workers, yields results in submission order, and after the epoch's
    last batch is computed calls `sequence.on_epoch_end()`; process workers then
    receive the updated sequence. `get()` goes on epoch after epoch until
    `stop()`.

    Args:
        sequence: A `kutils.Sequence` object (anything with `__len__` and `__getitem__`).
        use_multiprocessing: use multiprocessing if True, otherwise threading.
            Processes get a pickled copy of the sequence (an `HDF5Matrix` inside
            reopens its file in the worker).
        shuffle: whether to shuffle the data at the beginning of each epoch.
        start_method: (keyword-only, beyond 2.2.4) multiprocessing start method
            of process workers: 'forkserver' (default where available, else
            'spawn'), 'spawn' or 'fork'. 'fork' starts fastest but forking a
            process that runs TensorFlow can deadlock the workers. The default
            is 'fork', as in Keras 2.2.4, for a main script without an
            `if __name__ == "__main__":` guard, which the other two would run
            again in each worker (a `RuntimeWarning` says so).
    """

    def __init__(
        self,
        sequence: Any,
        use_multiprocessing: bool = False,
        shuffle: bool = False,
        *,
        start_method: str | None = None,
    ) -> None:
        super().__init__(sequence, use_multiprocessing)
        self.shuffle = shuffle
        self.start_method = start_method
        self._pool: ThreadWorkers | ProcessWorkers | None = None

    def _start(self, workers: int, max_queue_size: int) -> None:
        if self.use_multiprocessing:
            context = process_context(self.start_method, _FORKSERVER_PRELOAD)
            self._pool = ProcessWorkers(workers, self.sequence, context)
        else:
            self._pool = ThreadWorkers(workers, self.sequence)
        self.queue = queue.Queue(max_queue_size)
        self.run_thread = threading.Thread(target=self._run, name="kutils-ordered-enqueuer", daemon=True)
        self.run_thread.start()

    def _run(self) -> None:
        """Submits each epoch's indices in order, then runs `on_epoch_end` once they are computed."""
        assert self._pool is not None
        assert self.stop_signal is not None
        try:
            while not self.stop_signal.is_set():
                indices = list(range(len(self.sequence)))
                if not indices:  # 2.2.4 spun through empty epochs forever while get() waited
                    raise ValueError(
                        f"OrderedEnqueuer: the sequence {type(self.sequence).__name__} has no batches "
                        "(len(sequence) == 0), so get() would wait forever; give it at least one batch."
                    )
                if self.shuffle:
                    random.shuffle(indices)
                # Only the batches not computed yet are tracked: holding every future of the epoch
                # would keep every batch in memory until the epoch ends.
                pending: set[Future[Any]] = set()
                for index in indices:
                    future = self._pool.submit(index)
                    pending.add(future)
                    future.add_done_callback(pending.discard)
                    if not self._put(future):
                        return
                while wait_futures(list(pending), timeout=_POLL_SECONDS).not_done:
                    if self.stop_signal.is_set():
                        return
                self.sequence.on_epoch_end()
                if isinstance(self._pool, ProcessWorkers) and _overrides_on_epoch_end(self.sequence):
                    self._pool.update(self.sequence)
        except BaseException as error:
            self._put(Failure(error))

    def get(self) -> Generator[Any, None, None]:
        """Yields the batches in order, epoch after epoch, until `stop()`.

        `None` batches are skipped (as in 2.2.4). An exception raised by the
        sequence in a worker stops the enqueuer and is re-raised here.

        Yields:
            The batches, `sequence[i]`.
        """
        while self.is_running():
            assert self.queue is not None
            try:
                item = self.queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if isinstance(item, Failure):
                self.stop()
                item.raise_it()
            while not wait_futures([item], timeout=_POLL_SECONDS).done:
                if not self.is_running():  # stop() from another thread: end quietly
                    return
            try:
                batch = item.result()
            except CancelledError:  # stop() from another thread cancelled it
                return
            except BaseException:
                self.stop()
                raise
            if batch is not None:
                yield batch

    def _stop(self, timeout: float) -> None:
        if self.run_thread is not None:
            self.run_thread.join(timeout)
        if self.queue is not None:  # cancel what no one will consume, so that thread workers skip it
            while not self.queue.empty():
                item = self.queue.get_nowait()
                if isinstance(item, Future):
                    item.cancel()
        if self._pool is not None:
            self._pool.close(timeout)
            self._pool = None


# -- GeneratorEnqueuer ----------------------------------------------------------------------------------


def _produce(generator: Iterator[Any], lock: threading.Lock, put: Callable[[Any], bool], stop: Any) -> None:
    """Thread worker loop: `next(generator)` into the queue until exhausted, failed or stopped."""
    while not stop.is_set():
        try:
            with lock:
                item = next(generator)
        except StopIteration:
            put(Done())
            return
        except BaseException as error:
            put(Failure(error))
            return
        if not put(item):
            return


class GeneratorEnqueuer(SequenceEnqueuer):
    """Builds a queue out of a data generator.

    Threads share the generator and call `next()` on it one at a time (a lock
    makes any generator thread-safe, unlike 2.2.4, which raised "Your generator
    is NOT thread-safe"). Processes each run a **copy** of the generator, so
    with several workers every sample is produced once per worker, as in
    2.2.4; a generator cannot be pickled, so processes are always forked.

    Args:
        sequence: a generator (or any iterator) which yields data. The name
            is Keras 2.2.4's, so `GeneratorEnqueuer(sequence=gen)` works.
        use_multiprocessing: use multiprocessing if True, otherwise threading.
        wait_time: ignored, as in Keras 2.2.4 (a `DeprecationWarning` if given).
        random_seed: Initial seed for workers, will be incremented by one for
            each worker (numpy's and Python's global generators).

    Example:

    ```python
    enqueuer = GeneratorEnqueuer(batch_generator())
    enqueuer.start(workers=1, max_queue_size=10)
    for x, y in enqueuer.get():  # ends when the generator ends
        ...
    enqueuer.stop()
    ```
    """

    def __init__(
        self,
        sequence: Iterator[Any],
        use_multiprocessing: bool = False,
        wait_time: float | None = None,
        random_seed: int | None = None,
    ) -> None:
        super().__init__(sequence, use_multiprocessing)
        if wait_time is not None:
            warnings.warn("`wait_time` is not used anymore.", DeprecationWarning, stacklevel=2)
        self.wait_time = wait_time
        self.random_seed = random_seed
        self._threads: list[threading.Thread] = []
        self._processes: ProducerProcesses | None = None

    def _start(self, workers: int, max_queue_size: int) -> None:
        assert self.stop_signal is not None
        self._remaining = workers
        self.queue = queue.Queue(max_queue_size)
        if self.use_multiprocessing:
            self._processes = ProducerProcesses(workers, self.sequence, self.random_seed, self._put)
            return
        if self.random_seed is not None:
            np.random.seed(self.random_seed)
            random.seed(self.random_seed)
        lock = threading.Lock()
        self._threads = [
            threading.Thread(
                target=_produce,
                args=(self.sequence, lock, self._put, self.stop_signal),
                name=f"kutils-generator-thread-{number}",
                daemon=True,
            )
            for number in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def get(self) -> Generator[Any, None, None]:
        """Yields the generator's outputs until every worker's generator is exhausted or `stop()`.

        An exception raised by the generator stops the enqueuer and is re-raised
        here; so is a `kutils.errors.WorkerDiedError` when a worker process
        died (killed by a signal, crashed) before its generator ended.

        Yields:
            The generator outputs.
        """
        while self.is_running() and self._remaining > 0:
            assert self.queue is not None
            try:
                item = self.queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if isinstance(item, Done):
                self._remaining -= 1
                continue
            if isinstance(item, Failure):
                self.stop()
                item.raise_it()
            yield item
        if self._remaining == 0:
            self.stop()

    def _stop(self, timeout: float) -> None:
        if self._processes is not None:
            self._processes.close(timeout)
            self._processes = None
        deadline = time.monotonic() + timeout
        while any(thread.is_alive() for thread in self._threads) and time.monotonic() < deadline:
            self._drain()  # a thread blocked on a full queue sees the stop signal once there is room
            for thread in self._threads:
                thread.join(_POLL_SECONDS / len(self._threads))
        self._drain()
        self._threads = []

    def _drain(self) -> None:
        while self.queue is not None:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                return
