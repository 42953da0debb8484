"""Calls of compiled steps that hold collectives, under a cancellation manager that outlives each call.

TensorFlow gives every function call made without a caller's cancellation
manager a private one, freed when the call returns (see `local_cm` in
https://github.com/tensorflow/tensorflow/blob/v2.21.0/tensorflow/core/common_runtime/process_function_library_runtime.cc).
When a collective times out or loses its peer, the call returns with the error
while the receive RPC to that peer is still pending; once the RPC ends, it
deregisters itself from the freed manager, and the surviving worker dies with
SIGSEGV, or SIGABRT and "Mutex corrupt", instead of raising. So kutils passes
a manager of its own and, after a failed call, keeps it alive for the rest of
the process (a few hundred bytes per failure) and uses a fresh one.

`tensorflow.python.eager.cancellation` is not public TensorFlow API;
tests/test_collective_calls.py fails loudly if it moves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ._keras import import_tensorflow

import_tensorflow("distributed_fit")
from tensorflow.python.eager import cancellation  # noqa: E402  (after the checked TensorFlow import)

__all__ = ["CollectiveCalls"]

Result = TypeVar("Result")

# Managers of failed calls: an RPC of such a call may still deregister from one of them later.
_RETIRED: list[Any] = []


class CollectiveCalls:
    """Runs functions under one cancellation manager while they succeed, a fresh one after a failure."""

    def __init__(self) -> None:
        self._manager = cancellation.CancellationManager()

    def call(self, function: Callable[..., Result], *args: Any) -> Result:
        """Calls `function(*args)`; every TensorFlow function it runs gets this object's manager."""
        try:
            return self._manager.get_cancelable_function(function)(*args)  # type: ignore[no-any-return]
        except BaseException:
            _RETIRED.append(self._manager)
            self._manager = cancellation.CancellationManager()
            raise
