"""Generator copies running in forked processes, for `GeneratorEnqueuer(use_multiprocessing=True)`.

Each producer process runs its own copy of the generator and writes every
output as a frame (`kutils._frames`) to a pipe of its own. One collector
thread in the parent reads all the pipes without blocking and hands the
rebuilt outputs to the enqueuer's queue, so:

- `stop()` never waits on a half-written multi-MB batch: the collector keeps
  draining (and dropping) while the producers notice the stop and exit, and a
  producer ended in the middle of a frame only leaves a partial frame behind;
- a producer killed by a signal (OOM killer, segfault) is reported to `get()`
  as a `WorkerDiedError` naming it and the signal;
- an exception or output that cannot be rebuilt in the parent reaches
  `get()` as a `WorkerError` with its type name, message and traceback.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import numpy as np

from ._frames import FrameReader, decode, send_done, send_error, send_value, widen_pipe, with_remote_traceback
from ._shm import remove_segments_of, share_tracker, watch
from ._workers import describe_exit, end_process
from .errors import WorkerDiedError

__all__ = ["Done", "Failure", "ProducerProcesses"]

_POLL_SECONDS = 0.1


class Failure:
    """Carries an exception (and, from a process, its formatted traceback) through a queue."""

    def __init__(self, error: BaseException, remote_traceback: str | None = None) -> None:
        self.error = error
        self.remote_traceback = remote_traceback

    def raise_it(self) -> NoReturn:
        if self.remote_traceback is not None:
            raise with_remote_traceback(self.error, self.remote_traceback)
        raise self.error


class Done:
    """Marks that one generator worker reached the end of its generator."""


def _produce_main(generator: Iterator[Any], results: Any, stop: Any, seed: int | None, number: int) -> None:
    """Entry point of a producer process: `next(generator)` into frames until exhausted, failed or stopped."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if seed is not None:
        np.random.seed(seed + number)
        random.seed(seed + number)
    out = results.fileno()
    try:
        while not stop.is_set():
            try:
                item = next(generator)
            except StopIteration:
                send_done(out, number)
                return
            except BaseException as error:
                send_error(out, number, error)
                return
            send_value(out, number, item)
    except BrokenPipeError:  # the parent is gone
        return


class ProducerProcesses:
    """`workers` forked processes, each running a copy of `generator`; outputs go to `put`.

    `put(item)` receives each output, `Done()` when a copy is exhausted, or a
    `Failure`; it blocks while the consumer's queue is full and returns False
    once the consumer stopped (outputs are then dropped).
    """

    def __init__(self, workers: int, generator: Iterator[Any], seed: int | None, put: Callable[[Any], bool]):
        context = multiprocessing.get_context("fork")  # a generator cannot be pickled: fork is the only way
        self._stop = context.Event()
        self._put = put
        self._dropping = threading.Event()
        self.processes: list[Any] = []
        self._readers: list[FrameReader] = []
        try:
            share_tracker()
            for number in range(workers):
                reader, writer = context.Pipe(duplex=False)
                widen_pipe(writer.fileno())
                process = context.Process(
                    target=_produce_main,
                    args=(generator, writer, self._stop, seed, number),
                    name=f"kutils-generator-worker-{number}",
                    daemon=True,
                )
                process.start()
                writer.close()
                self.processes.append(process)
                self._readers.append(FrameReader(reader))
            watch(self.processes)
        except BaseException:
            self._end(1.0)
            raise
        self._collector = threading.Thread(
            target=self._collect, name="kutils-generator-collector", daemon=True
        )
        self._collector.start()

    def _deliver(self, item: Any) -> None:
        if not self._dropping.is_set() and not self._put(item):
            self._dropping.set()

    def _collect(self) -> None:
        try:
            self._collect_until_ended()
        except BaseException as error:  # never lose it: get() raises it
            self._deliver(Failure(error))

    def _collect_until_ended(self) -> None:
        by_reader = dict(zip(self._readers, self.processes, strict=True))
        by_sentinel = {process.sentinel: (process, reader) for reader, process in by_reader.items()}
        waitables: list[Any] = [*by_reader, *by_sentinel]
        ended: set[int] = set()
        while any(sentinel in waitables for sentinel in by_sentinel):
            ready_now: list[Any] = multiprocessing.connection.wait(waitables, timeout=_POLL_SECONDS)
            for ready in ready_now:
                if ready not in by_sentinel:
                    self._receive(ready, ended)
                    if ready.eof:
                        waitables.remove(ready)
                    continue
                process, reader = by_sentinel[ready]
                waitables.remove(ready)
                process.join(1)  # the sentinel can fire just before the exit code is ready
                self._receive(
                    reader, ended
                )  # what it wrote in full before exiting; a partial frame is dropped
                if reader in waitables:
                    waitables.remove(reader)
                if self.processes.index(process) not in ended and not self._stop.is_set():
                    self._deliver(
                        Failure(
                            WorkerDiedError(
                                f"GeneratorEnqueuer: worker process {process.name} (pid {process.pid}) "
                                f"{describe_exit(process)} before its generator ended. A signal usually "
                                "means the out-of-memory killer (smaller batches or max_queue_size) or a "
                                "crash in native code; use_multiprocessing=False shows the error in-process."
                            )
                        )
                    )

    def _receive(self, reader: FrameReader, ended: set[int]) -> None:
        for header, body in reader.read_ready():
            if header[0] == "done" or header[0] == "error":
                ended.add(header[1])
            if self._dropping.is_set():
                continue
            worker = f"GeneratorEnqueuer worker process kutils-generator-worker-{header[1]}"
            kind, _, payload = decode(header, body, worker)
            if kind == "value":
                self._deliver(payload)
            elif kind == "done":
                self._deliver(Done())
            else:
                self._deliver(Failure(payload))

    def _end(self, timeout: float) -> None:
        self._stop.set()
        self._dropping.set()
        deadline = time.monotonic() + timeout
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in self.processes:
            end_process(process, 0)

    def close(self, timeout: float) -> None:
        """Stops the producers (terminating those still running after `timeout`), the collector, the pipes."""
        self._end(timeout)
        self._collector.join(timeout)
        for reader in self._readers:
            reader.close()
        remove_segments_of([process.pid for process in self.processes if process.pid])
