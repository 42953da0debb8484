"""CustomObjectScope across threads: overlapping scopes, a seeded random schedule, a free-running stress.

Keras 2.2.4's scope was process-global and not thread-safe: when A enters, B enters and A exits, A's
exit put back the dict it saw on entry, dropping B's names while B was still inside. kutils keeps the
process-global dict (other threads see a scope's names, as in 2.2.4) and makes overlapping exits
correct, also for Keras' own lookups on each line.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from types import ModuleType

import pytest
from _custom_objects_support import (  # noqa: F401  (autouse and parametrized fixtures)
    assert_line_untouched,
    clean_custom_objects,
    keras_attributes,
)

from kutils import CustomObjectScope, get_custom_objects

WAIT = 120  # seconds; a generous deadline for a busy machine, never reached when things work


def make_activation(name: str) -> Callable[[object], object]:
    """A distinct activation function per name (one object shared by every scope that adds the name)."""

    def activation(x: object) -> object:
        return x

    activation.__name__ = name
    return activation


def resolves(line: ModuleType, name: str) -> object | None:
    """What `line.activations.get(name)` gives, or None when Keras does not know the name."""
    try:
        return line.activations.get(name)
    except ValueError:
        return None


class ThreadFailures:
    """Collects exceptions of worker threads so that the test re-raises the first one."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    def guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def guarded() -> None:
            try:
                target()
            except BaseException as error:  # re-raised by check()
                self.errors.append(error)

        return guarded

    def check(self) -> None:
        if self.errors:
            raise self.errors[0]


def test_overlapping_scopes_adding_the_same_name_keep_it_until_the_last_exit(keras_line):
    """A enters, B enters (same name, same object), A exits: B still sees the name, in the dict and in Keras.

    Before: A's exit deleted the name B had also added, so B got a KeyError from the dict and
    "Unknown activation function" from Keras while still inside its scope.
    """
    before = keras_attributes(keras_line)
    shared = make_activation("shared_act")
    a_entered, b_entered, a_exited = threading.Event(), threading.Event(), threading.Event()
    failures = ThreadFailures()
    seen: dict[str, object] = {}

    def thread_b() -> None:
        assert a_entered.wait(WAIT)
        with CustomObjectScope({"shared_act": shared, "b_only": 2}):
            b_entered.set()
            assert a_exited.wait(WAIT)
            seen["dict"] = dict(get_custom_objects())
            seen["keras"] = resolves(keras_line, "shared_act")
        seen["after b"] = resolves(keras_line, "shared_act")

    worker = threading.Thread(target=failures.guard(thread_b))
    worker.start()
    with CustomObjectScope({"shared_act": shared, "a_only": 1}):
        a_entered.set()
        assert b_entered.wait(WAIT)
    a_exited.set()
    worker.join(WAIT)
    assert not worker.is_alive()
    failures.check()
    assert seen == {"dict": {"shared_act": shared, "b_only": 2}, "keras": shared, "after b": None}
    assert get_custom_objects() == {}
    assert_line_untouched(keras_line, before)


def test_a_name_registered_before_both_scopes_survives_their_overlap(keras_line):
    """A global name that both overlapping scopes also add keeps its object after both exit."""
    shared = make_activation("shared_act")
    get_custom_objects()["shared_act"] = shared
    a_entered, b_entered, a_exited = threading.Event(), threading.Event(), threading.Event()
    failures = ThreadFailures()

    def thread_b() -> None:
        assert a_entered.wait(WAIT)
        with CustomObjectScope({"shared_act": shared}):
            b_entered.set()
            assert a_exited.wait(WAIT)
            assert resolves(keras_line, "shared_act") is shared

    worker = threading.Thread(target=failures.guard(thread_b))
    worker.start()
    with CustomObjectScope({"shared_act": shared}):
        a_entered.set()
        assert b_entered.wait(WAIT)
    a_exited.set()
    worker.join(WAIT)
    failures.check()
    assert get_custom_objects() == {"shared_act": shared}
    assert resolves(keras_line, "shared_act") is shared


class ScheduledWorker:
    """A thread that enters and leaves scopes one step at a time, when the scheduler lets it."""

    def __init__(
        self, index: int, plans: list[dict[str, object]], line: ModuleType, done: threading.Semaphore
    ) -> None:
        self.index = index
        self.plans = plans
        self.line = line
        self.steps_left = 2 * len(plans)
        self.open: dict[str, object] | None = None
        self._go = threading.Semaphore(0)
        self._done = done
        self.failures = ThreadFailures()
        self.thread = threading.Thread(target=self.failures.guard(self._run), daemon=True)

    def step(self) -> None:
        """Lets the worker take its next step (enter or exit a scope)."""
        self.steps_left -= 1
        self._go.release()

    def _wait_for_turn(self) -> None:
        if not self._go.acquire(timeout=WAIT):
            raise TimeoutError(f"worker {self.index} was never scheduled")

    def _run(self) -> None:
        try:
            self._scopes()
        except BaseException:
            self._done.release()  # never leave the scheduler waiting on a failed worker
            raise

    def _scopes(self) -> None:
        for names in self.plans:
            self._wait_for_turn()
            with CustomObjectScope(names):
                self.open = names
                for name, value in names.items():  # this thread sees its own names at once
                    assert get_custom_objects()[name] is value
                    assert resolves(self.line, name) is value
                self._done.release()
                self._wait_for_turn()
                self.open = None
            self._done.release()


@pytest.mark.parametrize("seed", range(4))
def test_many_threads_in_a_seeded_random_schedule_keep_the_table_exact(keras_line, seed):
    """Six threads enter and leave scopes in a random (seeded) order; after each step the table is exact.

    After every step: the dict holds the names registered before plus exactly those of the open
    scopes, Keras resolves exactly those names, and after the last exit the dict and Keras are as
    before. Before: names of still-open scopes vanished and names of closed scopes came back.
    """
    before = keras_attributes(keras_line)
    chooser = random.Random(seed)
    pool = {name: make_activation(name) for name in ("act_a", "act_b", "act_c", "act_d")}
    registered = {"act_global": make_activation("act_global")}
    get_custom_objects().update(registered)
    done = threading.Semaphore(0)
    workers = []
    for index in range(6):
        plans = []
        for _ in range(3):
            chosen = chooser.sample(sorted(pool), chooser.randint(1, 3))
            own = f"own_{index}"
            plans.append({**{name: pool[name] for name in chosen}, own: make_activation(own)})
        workers.append(ScheduledWorker(index, plans, keras_line, done))
    for worker in workers:
        worker.thread.start()
    every_name = {*pool, *registered, *(f"own_{index}" for index in range(6))}
    while pending := [worker for worker in workers if worker.steps_left > 0]:
        worker = chooser.choice(pending)
        worker.step()
        assert done.acquire(timeout=WAIT), f"worker {worker.index} did not finish its step"
        for each in workers:
            each.failures.check()
        expected = dict(registered)
        for each in workers:
            expected.update(each.open or {})
        assert get_custom_objects() == expected
        for name in every_name:
            assert resolves(keras_line, name) is expected.get(name)
    for worker in workers:
        worker.thread.join(WAIT)
        assert not worker.thread.is_alive()
        worker.failures.check()
    assert get_custom_objects() == registered
    get_custom_objects().clear()
    assert_line_untouched(keras_line, before)


def test_free_running_threads_always_see_their_own_names(keras_line):
    """Eight threads enter and leave scopes as fast as they can (shared and own names) for many rounds.

    Inside its scope each thread always finds each of its names, in the dict and through Keras;
    afterwards the dict and Keras are exactly as before.
    """
    before = keras_attributes(keras_line)
    shared = {name: make_activation(name) for name in ("act_x", "act_y")}
    start = threading.Barrier(8, timeout=WAIT)
    failures = ThreadFailures()

    def worker(index: int) -> None:
        own = {f"own_{index}": make_activation(f"own_{index}"), **shared}
        start.wait()
        for _ in range(150):
            with CustomObjectScope(own):
                for name, value in own.items():
                    assert get_custom_objects()[name] is value
                    assert resolves(keras_line, name) is value

    threads = [
        threading.Thread(target=failures.guard(lambda index=index: worker(index)), daemon=True)
        for index in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    failures.check()
    assert get_custom_objects() == {}
    assert_line_untouched(keras_line, before)


def test_keras_lookups_never_fail_while_other_threads_change_the_table(keras_line):
    """A name registered for good resolves every time while other threads open and close scopes.

    Before (Keras' tables were `ChainMap` views over the kutils dict): a lookup racing a scope exit
    could test a name, see it vanish, and raise `KeyError` from inside Keras.
    """
    stable = make_activation("stable_act")
    get_custom_objects()["stable_act"] = stable
    stop = threading.Event()
    failures = ThreadFailures()

    def churn(index: int) -> None:
        names = {f"churn_{index}_{k}": make_activation(f"churn_{index}_{k}") for k in range(20)}
        while not stop.is_set():
            with CustomObjectScope(names):
                pass

    def read() -> None:
        for _ in range(3000):
            assert keras_line.activations.get("stable_act") is stable

    churners = [threading.Thread(target=failures.guard(lambda i=i: churn(i)), daemon=True) for i in range(3)]
    readers = [threading.Thread(target=failures.guard(read), daemon=True) for _ in range(3)]
    for thread in churners + readers:
        thread.start()
    for thread in readers:
        thread.join(WAIT)
    stop.set()
    for thread in churners:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in churners + readers)
    failures.check()
