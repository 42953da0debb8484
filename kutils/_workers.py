"""Worker pools that compute `state[index]` in threads or processes, returning Futures.

Used by `OrderedEnqueuer`. The process pool talks to each worker over two
pipes of its own: tasks (and the state, streamed) go down one; results come
back up the other as frames (`kutils._frames`) read without blocking. So a
new version of the state (a sequence changed by `on_epoch_end`) reaches every
worker before the next task, a dead worker is noticed (its pending futures
fail naming it and the signal that killed it, instead of hanging, even in the
middle of a half-written batch), an exception or batch that cannot be rebuilt
in the parent still reaches the caller, and a worker whose parent died exits
on its own (end of file on its task pipe).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import multiprocessing
import multiprocessing.connection
import pickle
import queue
import signal
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future
from multiprocessing.context import BaseContext
from typing import Any

from ._frames import (
    FrameReader,
    RemoteTraceback,
    decode,
    send_error,
    send_value,
    widen_pipe,
    with_remote_traceback,
)
from ._main_module import main_is_importable, unguarded_main_script
from ._shm import remove_segments_of, share_tracker, watch
from .errors import WorkerDiedError

__all__ = [
    "ProcessWorkers",
    "RemoteTraceback",
    "ThreadWorkers",
    "WorkerDiedError",
    "describe_exit",
    "end_process",
    "process_context",
    "with_remote_traceback",
]

_POLL_SECONDS = 0.1


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


def describe_exit(process: Any) -> str:
    """'exited with code N', plus the signal's name when a signal killed `process`."""
    code = process.exitcode
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"exited with code {code} (killed by signal {signal.Signals(-code).name})"
    return f"exited with code {code}"


def _process_main(tasks: Any, results: Any) -> None:
    """Entry point of a worker process: answers ("item", task_id, index) with `state[index]`.

    Reads a stream of pickles from `tasks` (a state is streamed right after its
    ("state", ...) message, never held whole in the parent) and writes frames to `results`.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    stream = open(tasks.fileno(), "rb", closefd=False)  # noqa: SIM115 - lives as long as the process
    out = results.fileno()
    state: Any = None
    state_error: BaseException | None = None
    while True:
        try:
            message = pickle.load(stream)
        except (EOFError, OSError):  # the parent is gone
            return
        if message is None:
            return
        kind, task_id, index = message
        if kind == "state":
            try:
                state, state_error = pickle.load(stream), None
            except (EOFError, OSError):
                return
            except BaseException as error:  # reported with every task until a good state comes
                state, state_error = None, error
            continue
        try:
            if state_error is not None:
                raise state_error
            send_value(out, task_id, state[index])
        except BrokenPipeError:
            return
        except BaseException as error:
            try:
                send_error(out, task_id, error)
            except BrokenPipeError:
                return


class _Digest:
    """A file-like sink that hashes what `pickle.dump` writes, so a state is compared without a copy."""

    def __init__(self) -> None:
        self._hash = hashlib.blake2b(digest_size=32)

    def write(self, data: Any) -> int:
        self._hash.update(data)
        return memoryview(data).nbytes

    def digest(self) -> bytes:
        return self._hash.digest()


Dump = Callable[..., None]


def _state_digest(state: Any) -> tuple[bytes, Dump]:
    """How `state` goes to a worker: its digest, and `pickle.dump`, or cloudpickle's when pickle refuses.

    Keras 2.2.4 forked its workers, so a sequence holding a lambda, a local
    function or a closure (or a class defined in a function) worked; kutils
    starts workers with forkserver/spawn (safe with TensorFlow's threads) and
    sends such sequences by value with cloudpickle instead. So it does when the
    workers cannot import `__main__` (a notebook, `python -c`), where a class
    defined there is only found if sent by value. What no serializer can send
    (an open lock, a socket) raises `TypeError` naming the attribute.
    """
    sink = _Digest()
    try:
        if not main_is_importable():
            raise pickle.PicklingError("classes of __main__ must go by value: the workers cannot import it")
        pickle.dump(state, sink, protocol=pickle.HIGHEST_PROTOCOL)
        return sink.digest(), pickle.dump
    except Exception as error:
        plain_error = error
    try:
        import cloudpickle
    except ImportError:
        raise TypeError(
            f"use_multiprocessing=True sends the sequence to worker processes, but {type(state).__name__} "
            f"cannot be pickled ({plain_error}). Install cloudpickle (it sends lambdas, closures and local "
            "classes), make the sequence picklable, or use threads (use_multiprocessing=False)."
        ) from plain_error
    sink = _Digest()
    try:
        cloudpickle.dump(state, sink, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        raise TypeError(
            f"use_multiprocessing=True sends the sequence to worker processes, but {type(state).__name__} "
            f"cannot be pickled, even by cloudpickle: {_unpicklable_part(state, cloudpickle.dumps)} "
            f"({error}). Create that object in the worker instead (for example lazily in __getitem__), "
            "or use threads (use_multiprocessing=False)."
        ) from error
    return sink.digest(), cloudpickle.dump


def _unpicklable_part(state: Any, dumps: Callable[[Any], bytes]) -> str:
    """Names the first attribute of `state` that `dumps` refuses (or says the object itself)."""
    for name, value in getattr(state, "__dict__", {}).items():
        try:
            dumps(value)
        except Exception:
            return f"its attribute {name!r} (a {type(value).__module__}.{type(value).__qualname__})"
    return "the object itself"


class _Worker:
    def __init__(self, context: BaseContext, number: int) -> None:
        task_reader, self._task_writer = context.Pipe(duplex=False)
        result_reader, result_writer = context.Pipe(duplex=False)
        widen_pipe(result_writer.fileno())
        self.process = context.Process(  # type: ignore[attr-defined]
            target=_process_main,
            args=(task_reader, result_writer),
            name=f"kutils-process-worker-{number}",
            daemon=True,
        )
        self.process.start()
        task_reader.close()
        result_writer.close()
        self.tasks = open(self._task_writer.fileno(), "wb", closefd=False)  # noqa: SIM115
        self.results = FrameReader(result_reader)
        self.send_lock = threading.Lock()
        self.pending: set[int] = set()

    @property
    def name(self) -> str:
        return f"worker process {self.process.name} (pid {self.process.pid})"

    def send(self, *messages: Any, dump: Dump = pickle.dump) -> None:
        """Pickles each message into the worker's task pipe with `dump`, streaming large ones."""
        with self.send_lock:
            for message in messages:
                dump(message, self.tasks, protocol=pickle.HIGHEST_PROTOCOL)
            self.tasks.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.tasks.close()
        self._task_writer.close()
        self.results.close()


class ProcessWorkers:
    """`workers` processes of `context`, each holding an unpickled copy of `state`.

    The parent keeps no pickled copy of the state: it streams it into each
    worker's pipe and keeps only a digest, to tell whether `update` changed it.
    """

    def __init__(self, workers: int, state: Any, context: BaseContext) -> None:
        self._digest, self._dump = _state_digest(state)
        self._workers: list[_Worker] = []
        self._futures: dict[int, tuple[Future[Any], _Worker]] = {}
        self._lock = threading.Lock()
        self._task_ids = itertools.count()
        self._closing = threading.Event()
        try:
            share_tracker()
            for number in range(workers):
                self._workers.append(_Worker(context, number))
            self._next_worker = itertools.cycle(self._workers)
            watch([worker.process for worker in self._workers])
            for worker in self._workers:
                worker.send(("state", None, None), state, dump=self._dump)
        except BaseException:
            self._closing.set()
            self._end_processes(1.0)
            raise
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
        except (OSError, ValueError) as error:
            self._fail_worker(worker, f"could not be sent work ({error})")
        return future

    def update(self, state: Any) -> None:
        """Sends a new version of `state` (if it changed); tasks submitted afterwards see it."""
        digest, self._dump = _state_digest(state)
        if digest == self._digest:
            return
        self._digest = digest
        for worker in self._workers:
            try:
                worker.send(("state", None, None), state, dump=self._dump)
            except (OSError, ValueError) as error:
                self._fail_worker(worker, f"could not be sent the updated sequence ({error})")

    def _collect(self) -> None:
        try:
            self._collect_until_closed()
        except BaseException as error:  # never lose it: every waiting batch gets it
            with self._lock:
                lost = [future for future, _ in self._futures.values()]
                self._futures.clear()
            for future in lost:
                if not future.done():
                    future.set_exception(error)

    def _collect_until_closed(self) -> None:
        by_reader = {worker.results: worker for worker in self._workers}
        by_sentinel = {worker.process.sentinel: worker for worker in self._workers}
        waitables: list[Any] = [*by_reader, *by_sentinel]
        while waitables and not self._closing.is_set():
            ready_now: list[Any] = multiprocessing.connection.wait(waitables, timeout=_POLL_SECONDS)
            for ready in ready_now:
                if ready in by_sentinel:
                    worker = by_sentinel[ready]
                    waitables.remove(ready)
                    worker.process.join(1)  # the sentinel can fire just before the exit code is ready
                    self._receive(worker)  # what it wrote in full before dying; a partial frame is dropped
                    if worker.results in waitables:
                        waitables.remove(worker.results)
                    self._fail_worker(worker, describe_exit(worker.process))
                else:
                    self._receive(by_reader[ready])
                    if ready.eof:
                        waitables.remove(ready)

    def _receive(self, worker: _Worker) -> None:
        for header, body in worker.results.read_ready():
            kind, task_id, payload = decode(header, body, worker.name)
            with self._lock:
                entry = self._futures.pop(task_id, None)
                worker.pending.discard(task_id)
            if entry is None:  # already failed or cancelled
                continue
            if kind == "value":
                entry[0].set_result(payload)
            else:
                entry[0].set_exception(payload)

    def _fail_worker(self, worker: _Worker, what: str, error: type[BaseException] = WorkerDiedError) -> None:
        with self._lock:
            lost = [self._futures.pop(task_id)[0] for task_id in worker.pending if task_id in self._futures]
            worker.pending.clear()
        for future in lost:
            if not future.done():
                future.set_exception(error(f"The {worker.name} {what} before finishing its batch."))

    def _end_processes(self, timeout: float | None) -> None:
        for worker in self._workers:
            if worker.send_lock.acquire(timeout=_POLL_SECONDS):  # a stuck sender must not block stop()
                try:
                    with contextlib.suppress(OSError, ValueError):
                        pickle.dump(None, worker.tasks)
                        worker.tasks.flush()
                finally:
                    worker.send_lock.release()
        for worker in self._workers:
            end_process(worker.process, timeout)

    def close(self, timeout: float | None) -> list[Any]:
        """Stops the workers (terminating those that do not stop in `timeout`); returns survivors.

        The collector keeps draining results meanwhile, so no worker blocks on a full pipe.
        Batches still pending fail with `CancelledError`.
        """
        self._end_processes(timeout)
        self._closing.set()
        self._collector.join(timeout)
        for worker in self._workers:
            self._fail_worker(worker, "was stopped", CancelledError)
            worker.close()
        remove_segments_of([worker.process.pid for worker in self._workers if worker.process.pid])
        return [worker.process for worker in self._workers if worker.process.is_alive()]


def end_process(process: Any, timeout: float | None) -> None:
    """Joins `process` for `timeout` seconds, then terminates it, then kills it."""
    process.join(timeout)
    for end in (process.terminate, process.kill):
        if process.is_alive():
            end()
            process.join(5)


def _default_start_method() -> str:
    """'forkserver' (else 'spawn'); 'fork', as Keras 2.2.4, for a main script without a `__main__` guard."""
    methods = multiprocessing.get_all_start_methods()
    script = unguarded_main_script()
    if script is not None and "fork" in methods:
        warnings.warn(
            f"kutils: {script} has no 'if __name__ == \"__main__\":' guard, so its worker processes are "
            "forked, as Keras 2.2.4 did ('forkserver' would run the whole script again in each worker). "
            "Forking a process that runs TensorFlow can deadlock a worker: add the guard around the "
            "script's top-level code to use 'forkserver'.",
            RuntimeWarning,
            stacklevel=5,
        )
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def process_context(start_method: str | None, preload: Sequence[str]) -> BaseContext:
    """The multiprocessing context for `start_method` (default: see `_default_start_method`).

    With 'forkserver', the modules named in `preload` are imported once in the
    server, so that each worker starts without importing Keras again.
    """
    if start_method is None:
        start_method = _default_start_method()
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
