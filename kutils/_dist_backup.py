"""Backups of a `distributed_fit` run (`backup_dir=`): resume after a worker dies; save on SIGTERM.

A backup is one file, `backup_dir/backup-<steps done>.npz`: the model's
weights, the optimizer's variables and the loop's position (epoch, step in
the epoch, steps done, shuffling seed, the epoch's running loss). It is
written under a temporary name and renamed, so a kill during the write
leaves the previous backup whole. The chief (the worker holding replica 0)
writes one at every epoch end and every `save_freq` steps and keeps the two
newest; a worker that receives SIGTERM writes one itself before exiting
(every worker holds the same weights), in the style of
`tf.distribute.experimental.PreemptionCheckpointHandler`. On start, every
worker restores the newest backup, so with several machines `backup_dir`
must be storage that all of them see, as for Keras' `BackupAndRestore`.

kutils writes its own files rather than using Keras' `BackupAndRestore`
callback, because that callback's resume hooks live inside Keras' `fit`
(they set its initial epoch and step), which `distributed_fit` replaces.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import numpy as np

__all__ = ["Backups", "Position", "PreemptionWatch"]

_PREFIX, _SUFFIX, _KEEP = "backup-", ".npz", 2


@dataclass
class Position:
    """Where a run stands: `step` steps of epoch `epoch` done, `steps_done` in the whole run."""

    epoch: int
    step: int
    steps_done: int
    seed: int
    loss_total: float = 0.0
    rows_total: int = 0


class Backups:
    """The backups of one run in `directory`; `writer` says whether this worker writes periodic ones."""

    def __init__(self, directory: str | os.PathLike[str], model: Any, writer: bool) -> None:
        self.directory = Path(directory)
        self.model = model
        self.writer = writer
        self.directory.mkdir(parents=True, exist_ok=True)

    def _files(self) -> list[Path]:
        return sorted(self.directory.glob(f"{_PREFIX}*{_SUFFIX}"))

    def _variables(self) -> list[Any]:
        return list(self.model.optimizer.variables)

    def read(self) -> tuple[Position, dict[str, list[np.ndarray]]] | None:
        """The newest backup's position and arrays; None when there is none yet."""
        files = self._files()
        if not files:
            return None
        with np.load(files[-1]) as stored:
            position = Position(**json.loads(str(stored["position"])))
            arrays = {
                "weights": [stored[f"weight{i}"] for i in range(int(stored["weights"]))],
                "optimizer": [stored[f"optimizer{i}"] for i in range(int(stored["optimizer"]))],
                "file": [np.asarray(str(files[-1]))],
            }
        return position, arrays

    def load(self, arrays: dict[str, list[np.ndarray]]) -> None:
        """Puts a backup's arrays (from `read`) into the built model and optimizer.

        Raises:
            ValueError: If the backup was written for a model of another shape.
        """
        weights, slots = arrays["weights"], arrays["optimizer"]
        expected = [tuple(w.shape) for w in self.model.get_weights()]
        variables = self._variables()
        if [tuple(w.shape) for w in weights] != expected or len(slots) != len(variables):
            raise ValueError(
                f"distributed_fit: the backup {str(arrays['file'][0])!r} holds {len(weights)} weights and "
                f"{len(slots)} optimizer variables, not those of model {self.model.name!r} "
                f"({len(expected)} weights, {len(variables)} optimizer variables); give a backup_dir "
                "of this model's run, or an empty one to start afresh"
            )
        self.model.set_weights(weights)
        for variable, value in zip(variables, slots, strict=True):
            variable.assign(value)

    def save(self, position: Position) -> Path:
        """Writes a backup at `position` (atomically) and keeps the two newest; returns its path."""
        arrays: dict[str, Any] = {f"weight{i}": w for i, w in enumerate(self.model.get_weights())}
        slots = [np.asarray(variable.numpy()) for variable in self._variables()]
        arrays.update({f"optimizer{i}": value for i, value in enumerate(slots)})
        arrays.update(
            weights=len(arrays) - len(slots), optimizer=len(slots), position=json.dumps(asdict(position))
        )
        target = self.directory / f"{_PREFIX}{position.steps_done:012d}{_SUFFIX}"
        handle, temporary = tempfile.mkstemp(prefix=".writing-", suffix=_SUFFIX, dir=self.directory)
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, **arrays)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        for old in self._files()[:-_KEEP]:
            old.unlink(missing_ok=True)
        return target

    def finish(self) -> None:
        """After a completed run, the writer removes the backups (a new run starts afresh)."""
        if self.writer:
            for file in self._files():
                file.unlink(missing_ok=True)


class PreemptionWatch:
    """While active, SIGTERM only sets `requested`; the loop saves, then `exit()` re-delivers SIGTERM.

    Installed only in the main thread (where Python runs signal handlers) and
    only when SIGTERM is not ignored.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def __enter__(self) -> PreemptionWatch:
        if self.enabled and threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGTERM)
            if previous is not signal.SIG_IGN:
                self._previous = signal.signal(signal.SIGTERM, self._handler)
                if self._previous is None:  # a handler installed outside Python: the default stands in
                    self._previous = signal.SIG_DFL
                self._installed = True
        return self

    def _uninstall(self) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)
            self._installed = False

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._uninstall()

    def exit(self) -> None:
        """Gives SIGTERM back to the handler it had before (by default: the process ends here)."""
        self._uninstall()
        signal.raise_signal(signal.SIGTERM)
