"""kutils/_collective_calls.py: TensorFlow runs the calls under kutils' lasting cancellation manager.

A surviving worker used to crash (SIGSEGV, or SIGABRT "Mutex corrupt") about one run in four
after a collective timed out, because the receive RPC of the failed call deregistered from the
per-call manager TensorFlow had already freed; the end-to-end check is
tests/test_distribute.py::test_hanging_worker_makes_the_survivor_fail_after_the_collective_timeout.
These tests pin the two facts the fix rests on, without the race.
"""

from __future__ import annotations

import pytest
import tensorflow as tf
from _custom_objects_support import run_python
from tensorflow.python.eager import cancellation

from kutils import _collective_calls
from kutils._collective_calls import CollectiveCalls


@pytest.mark.slow
def test_a_compiled_function_called_through_it_runs_under_its_manager() -> None:
    """Cancelling the manager the call sees cancels the blocked op: TensorFlow used kutils' manager.

    If TensorFlow stopped honouring it, the dequeue would wait forever and the child would time out.
    """
    result = run_python(
        """
import tensorflow as tf
from tensorflow.python.eager import cancellation
from kutils._collective_calls import CollectiveCalls

queue = tf.queue.FIFOQueue(1, tf.float32)  # empty: a dequeue blocks until cancelled
dequeue = tf.function(queue.dequeue)

def cancel_then_wait():
    cancellation.context().start_cancel()
    return dequeue()

try:
    CollectiveCalls().call(cancel_then_wait)
except tf.errors.CancelledError as error:
    print("cancelled:", type(error).__name__)
""",
        timeout=300,
    )
    assert "cancelled: CancelledError" in result.stdout


def test_a_failed_call_leaves_its_manager_alive_and_the_next_call_gets_a_fresh_one() -> None:
    calls = CollectiveCalls()
    first = calls.call(cancellation.context)
    assert isinstance(first, cancellation.CancellationManager)
    assert calls.call(cancellation.context) is first  # successful calls share one manager
    assert cancellation.context() is None  # and only during the call

    def fail() -> None:
        raise tf.errors.DeadlineExceededError(None, None, "Collective has timed out during execution.")

    with pytest.raises(tf.errors.DeadlineExceededError):
        calls.call(fail)
    assert any(kept is first for kept in _collective_calls._RETIRED)  # pending RPCs may still use it
    assert not first.is_cancelled
    second = calls.call(cancellation.context)
    assert second is not first


def test_arguments_and_results_pass_through() -> None:
    double = tf.function(lambda x: x * 2)
    assert float(CollectiveCalls().call(double, tf.constant(21.0))) == 42.0
