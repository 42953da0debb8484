"""Worker pools that compute `state[index]` in threads or processes, returning Futures.

Used by `OrderedEnqueuer`. The process pool talks to each worker over its own
pipe, so that a new version of the state (a sequence changed by
`on_epoch_end`) reaches every worker before the next task, a dead worker is
noticed (its pending futures fail instead of hanging), and a worker whose
parent died exits on its own (end of file on its pipe).
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import multiprocessing.connection
import pickle
import queue
import signal
import threading
import traceback
from collections.abc import Sequence
from concurrent.futures import Future
from multiprocessing.context import BaseContext
from typing import Any

__all__ = ["ProcessWorkers", "RemoteTraceback", "ThreadWorkers", "WorkerDiedError", "with_remote_traceback"]

_POLL_SECONDS = 0.1


class WorkerDiedError(RuntimeError):
    """A worker process exited (crashed or was killed) while it had work to do."""


class RemoteTraceback(Exception):
    """The formatted traceback of an exception raised in a worker process."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


def with_remote_traceback(error: BaseException, text: str) -> BaseException:
    """Attaches a worker's formatted traceback to `error` as its `__cause__`."""
    error.__cause__ = RemoteTraceback(text)
    return error


class ThreadWorkers:
    """`workers` daemon threads computing `state[index]`."""

    def __init__(self, workers: int, state: Any) -> None:
        self._state = state
        self._tasks: queue.SimpleQueue[tuple[Future[Any], int] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._loop, name=f"kutils-thread-worker-{number}", daemon=True)
            for number in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def _loop(self) -> None:
        while (task := self._tasks.get()) is not None:
            future, index = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._state[index])
            except BaseException as error:
                future.set_exception(error)

    def submit(self, index: int) -> Future[Any]:
        """Schedules `state[index]`."""
        future: Future[Any] = Future()
        self._tasks.put((future, index))
        return future

    def update(self, state: Any) -> None:
        """Threads share memory: the next tasks simply use `state`."""
        self._state = state

    def close(self, timeout: float | None) -> list[threading.Thread]:
        """Asks the threads to finish; returns those still running after `timeout`."""
        for _ in self._threads:
            self._tasks.put(None)
        for thread in self._threads:
            thread.join(timeout)
        return [thread for thread in self._threads if thread.is_alive()]


def _process_main(connection: multiprocessing.connection.Connection) -> None:
    """Entry point of a worker process: answers `("item", task_id, index)` with `state[index]`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    state: Any = None
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if message is None:
            return
        kind, first, second = message
        if kind == "state":
            state = pickle.loads(first)
            continue
        try:
            connection.send((first, True, state[second]))
        except BaseException as error:
            text = "".join(traceback.format_exception(error))
            try:
                connection.send((first, False, (error, text)))
            except Exception:  # the exception itself does not pickle
                connection.send((first, False, (RuntimeError(f"{type(error).__name__}: {error}"), text)))


def _pickled_state(state: Any) -> bytes:
    try:
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        raise TypeError(
            f"use_multiprocessing=True sends the sequence to worker processes, but {type(state).__name__} "
            f"cannot be pickled ({error}). Make it picklable (no open files, lambdas or locks as attributes; "
            "HDF5Matrix is fine), or use threads (use_multiprocessing=False)."
        ) from error


class _Worker:
    def __init__(self, context: BaseContext, number: int) -> None:
        self.connection, child = context.Pipe(duplex=True)
        self.process = context.Process(  # type: ignore[attr-defined]
            target=_process_main, args=(child,), name=f"kutils-process-worker-{number}", daemon=True
        )
        self.process.start()
        child.close()
        self.send_lock = threading.Lock()
        self.pending: set[int] = set()

    def send(self, message: Any) -> None:
        with self.send_lock:
            self.connection.send(message)


class ProcessWorkers:
    """`workers` processes of `context`, each holding an unpickled copy of `state`."""

    def __init__(self, workers: int, state: Any, context: BaseContext) -> None:
        payload = self._payload = _pickled_state(state)
        self._workers = [_Worker(context, number) for number in range(workers)]
        self._futures: dict[int, tuple[Future[Any], _Worker]] = {}
        self._lock = threading.Lock()
        self._task_ids = itertools.count()
        self._next_worker = itertools.cycle(self._workers)
        self._closing = threading.Event()
        for worker in self._workers:
            worker.send(("state", payload, None))
        self._collector = threading.Thread(target=self._collect, name="kutils-result-collector", daemon=True)
        self._collector.start()

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers."""
        return [worker.process.pid for worker in self._workers if worker.process.pid is not None]

    def submit(self, index: int) -> Future[Any]:
        """Schedules `state[index]` on the next worker (round robin)."""
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        with self._lock:
            worker = next(self._next_worker)
            task_id = next(self._task_ids)
            self._futures[task_id] = (future, worker)
            worker.pending.add(task_id)
        try:
            worker.send(("item", task_id, index))
        except (BrokenPipeError, OSError) as error:
            self._fail_worker(worker, f"could not send it work ({error})")
        return future

    def update(self, state: Any) -> None:
        """Sends a new version of `state` (if it changed); tasks submitted afterwards see it."""
        payload = _pickled_state(state)
        if payload == self._payload:
            return
        self._payload = payload
        for worker in self._workers:
            worker.send(("state", payload, None))

    def _collect(self) -> None:
        by_connection = {worker.connection: worker for worker in self._workers}
        by_sentinel = {worker.process.sentinel: worker for worker in self._workers}
        waitables: list[Any] = [*by_connection, *by_sentinel]
        while waitables and not self._closing.is_set():
            for ready in multiprocessing.connection.wait(waitables, timeout=_POLL_SECONDS):
                if ready in by_connection:
                    self._receive(by_connection[ready], ready, waitables)
                else:
                    worker = by_sentinel[ready]
                    waitables.remove(ready)
                    worker.process.join(1)  # the sentinel can fire just before the exit code is ready
                    while worker.connection in waitables and worker.connection.poll():
                        self._receive(worker, worker.connection, waitables)
                    self._fail_worker(worker, f"exited with code {worker.process.exitcode}")

    def _receive(self, worker: _Worker, connection: Any, waitables: list[Any]) -> None:
        try:
            task_id, ok, payload = connection.recv()
        except (EOFError, OSError):
            waitables.remove(connection)
            return
        with self._lock:
            entry = self._futures.pop(task_id, None)
            worker.pending.discard(task_id)
        if entry is None:  # already failed or cancelled
            return
        future = entry[0]
        if ok:
            future.set_result(payload)
        else:
            error, text = payload
            future.set_exception(with_remote_traceback(error, text))

    def _fail_worker(self, worker: _Worker, what: str) -> None:
        with self._lock:
            lost = [self._futures.pop(task_id)[0] for task_id in worker.pending]
            worker.pending.clear()
        for future in lost:
            if not future.done():
                future.set_exception(
                    WorkerDiedError(f"Worker process {worker.process.pid} {what} before finishing its batch.")
                )

    def close(self, timeout: float | None) -> list[Any]:
        """Stops the workers (terminating those that do not stop in `timeout`); returns survivors.

        The collector keeps draining results meanwhile, so no worker blocks on a full pipe.
        """
        for worker in self._workers:
            with contextlib.suppress(BrokenPipeError, OSError):
                worker.send(None)
        for worker in self._workers:
            worker.process.join(timeout)
            for stop in (worker.process.terminate, worker.process.kill):
                if worker.process.is_alive():
                    stop()
                    worker.process.join(5)
        self._closing.set()
        self._collector.join(timeout)
        for worker in self._workers:
            worker.connection.close()
            self._fail_worker(worker, "was stopped")
        return [worker.process for worker in self._workers if worker.process.is_alive()]


def process_context(start_method: str | None, preload: Sequence[str]) -> BaseContext:
    """The multiprocessing context for `start_method` (default: 'forkserver', else 'spawn').

    With 'forkserver', the modules named in `preload` are imported once in the
    server, so that each worker starts without importing Keras again.
    """
    if start_method is None:
        start_method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    if start_method not in multiprocessing.get_all_start_methods():
        raise ValueError(
            f"start_method={start_method!r} is not available here; "
            f"choose one of {multiprocessing.get_all_start_methods()}."
        )
    context = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        from multiprocessing import forkserver

        current = list(getattr(forkserver._forkserver, "_preload_modules", ["__main__"]))
        wanted = current + [name for name in preload if name not in current]
        if wanted != current:
            context.set_forkserver_preload(wanted)
    return context
