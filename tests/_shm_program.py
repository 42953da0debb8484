"""Process workers sending large numpy batches through shared memory (run by tests/test_shm.py).

    python tests/_shm_program.py            # every case; prints "pids <worker pids>" then "ok"
    python tests/_shm_program.py exit       # leaves an enqueuer running and exits normally

Checks after each case that the workers left no segment in /dev/shm.
"""

from __future__ import annotations

import glob
import os
import signal
import sys

import numpy as np

from kutils import GeneratorEnqueuer, OrderedEnqueuer, Sequence
from kutils.errors import WorkerDiedError

ROWS = (64, 128, 128, 3)  # 3 MiB per batch: above kutils._shm.OUT_OF_BAND_MIN_BYTES


class Images(Sequence):
    """Batch i: images filled with i, labels i; fails at `fail_at`."""

    def __init__(self, length: int = 8, fail_at: int | None = None) -> None:
        self.length, self.fail_at = length, fail_at

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index == self.fail_at:
            raise ValueError(f"boom at {index}")
        return np.full(ROWS, index, np.uint8), np.full(64, index, np.int64)


def images(count: int):  # type: ignore[no-untyped-def]
    for index in range(count):
        yield {"x": np.full(ROWS, index % 250, np.uint8), "small": np.arange(3)}


def segments_of(pids: list[int]) -> list[str]:
    return [name for pid in pids for name in glob.glob(f"/dev/shm/kutils-{pid}-*")]


def started(
    sequence: Sequence, max_queue_size: int, shuffle: bool = False
) -> tuple[OrderedEnqueuer, list[int]]:
    """An OrderedEnqueuer of 2 process workers over `sequence`, started; and the workers' pids."""
    enqueuer = OrderedEnqueuer(sequence, use_multiprocessing=True, shuffle=shuffle)
    enqueuer.start(workers=2, max_queue_size=max_queue_size)
    return enqueuer, enqueuer._pool.pids  # type: ignore[union-attr]


def check_batches(batches, count: int, length: int, first: int = 0) -> None:  # type: ignore[no-untyped-def]
    for step in range(first, first + count):
        x, y = next(batches)
        index = step % length
        assert x.shape == ROWS, step
        assert bool((x == index).all()), step
        assert bool((y == index).all()), step


def main() -> None:
    all_pids: list[int] = []

    # Normal use: values intact across epochs, arrays are views of shared memory, slots come back.
    enqueuer, pids = started(Images(), max_queue_size=3)
    all_pids += pids
    batches = enqueuer.get()
    x, _ = next(batches)
    assert x.flags.writeable
    assert not x.flags.owndata, "a view of the shared slot"
    del x
    check_batches(batches, 30, 8, first=1)
    enqueuer.stop()
    assert segments_of(pids) == [], segments_of(pids)

    # An exception in __getitem__ ends the enqueuer; nothing left behind.
    enqueuer, pids = started(Images(fail_at=5), max_queue_size=3)
    all_pids += pids
    batches = enqueuer.get()
    try:
        check_batches(batches, 8, 8)
        raise AssertionError("no exception")
    except ValueError as error:
        assert "boom at 5" in str(error), error  # noqa: PT017 - a program, not a pytest test
    enqueuer.stop()
    assert segments_of(pids) == [], segments_of(pids)

    # A SIGKILLed worker: its batch fails, stop() removes the segments it had made.
    enqueuer, pids = started(Images(length=1000), max_queue_size=4)
    all_pids += pids
    batches = enqueuer.get()
    check_batches(batches, 4, 1000)
    os.kill(pids[1], signal.SIGKILL)
    try:
        for _ in range(1000):
            next(batches)
        raise AssertionError("no WorkerDiedError")
    except WorkerDiedError as error:
        assert "SIGKILL" in str(error), error  # noqa: PT017
    enqueuer.stop()
    assert segments_of(pids) == [], segments_of(pids)

    # GeneratorEnqueuer processes: dict batches, large array shared, small one pickled.
    enqueuer = GeneratorEnqueuer(images(10**6), use_multiprocessing=True)
    enqueuer.start(workers=2, max_queue_size=3)
    pids = [process.pid for process in enqueuer._processes.processes]  # type: ignore[union-attr]
    all_pids += pids
    batches = enqueuer.get()
    for _ in range(12):
        batch = next(batches)
        assert batch["x"].shape == ROWS
        assert bool((batch["x"] == batch["x"].flat[0]).all())
        assert batch["small"].tolist() == [0, 1, 2]
    enqueuer.stop()
    assert segments_of(pids) == [], segments_of(pids)

    # Keras fit on the enqueuer's generator (the fit_generator way): the batches come through the slots.
    all_pids += fit_on_the_enqueuer()
    assert segments_of(all_pids) == []
    print("ok")


def fit_on_the_enqueuer() -> list[int]:
    """Trains the active Keras line's model on `enqueuer.get()`; returns the worker pids."""
    from kutils import _shm
    from kutils._keras import import_keras

    keras = import_keras("the shared-memory fit case")
    model = keras.Sequential([keras.Input(ROWS[1:]), keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    sequence = Images()
    enqueuer, pids = started(sequence, max_queue_size=3, shuffle=True)
    history = model.fit(enqueuer.get(), steps_per_epoch=len(sequence), epochs=2, verbose=0)
    mapped = [name for name in _shm._mapped if name.startswith(tuple(f"kutils-{pid}-" for pid in pids))]
    enqueuer.stop()
    assert len(history.history["loss"]) == 2, history.history
    assert mapped, "the batches came through the workers' shared-memory slots"
    assert segments_of(pids) == [], segments_of(pids)
    return pids


def exit_with_running_enqueuer() -> None:
    enqueuer, pids = started(Images(length=1000), max_queue_size=4)
    print("pids", *pids, flush=True)
    check_batches(enqueuer.get(), 5, 1000)


if __name__ == "__main__":
    if sys.argv[1:] == ["exit"]:
        exit_with_running_enqueuer()
    else:
        main()
