"""Keras 3 adapter (Keras 3.3 from TensorFlow 2.16 to Keras 3.15 from TensorFlow 2.21).

The one place for what kutils needs to know about the Keras 3 line; every name
here is checked by tests/test_adapters.py, which fails loudly if Keras moves it.
"""

from __future__ import annotations

import inspect
import sys
from types import ModuleType
from typing import Any

from ._keras import major_minor

LINE = "keras"
# The first Keras whose compiled loss is divided by the replicas in sync under tf.distribute.
LOSS_SCALED_PER_REPLICA_SINCE = (3, 8)
# The first Keras whose TensorFlow optimizer sums the gradients across replicas in apply_gradients.
GRADIENTS_SUMMED_ACROSS_REPLICAS_SINCE = (3, 5)
# The first Keras whose metric variables are synchronized on read (summed over replicas) under TensorFlow.
METRICS_SYNCHRONIZED_ON_READ_SINCE = (3, 10)


def _version() -> tuple[int, int]:
    return major_minor(sys.modules["keras"].__version__) or (99, 0)


def sequence_base(keras: ModuleType) -> type:
    """The class Keras 3 `fit`/`evaluate`/`predict` accept as a Python batch source."""
    base: type = keras.utils.PyDataset
    return base


def compute_loss(model: Any, x: Any, y: Any, y_pred: Any, sample_weight: Any, training: bool) -> Any:
    """The compiled loss of one replica, as Keras 3.8+ computes it under a `tf.distribute` strategy.

    Keras 3.8 and later divide the local mean loss by the number of replicas in
    sync (so that the summed gradients average over the global batch); Keras
    3.3 to 3.7 return the plain local mean, so it is divided here. `training`
    is passed only where `compute_loss` takes it: Keras 3.3 has no such
    argument, and a user's override may lack it.
    """
    arguments = {"x": x, "y": y, "y_pred": y_pred, "sample_weight": sample_weight}
    if "training" in inspect.signature(model.compute_loss).parameters:
        arguments["training"] = training
    loss = model.compute_loss(**arguments)
    if _version() < LOSS_SCALED_PER_REPLICA_SINCE:
        replicas = sys.modules["tensorflow"].distribute.get_strategy().num_replicas_in_sync
        loss = loss / replicas if replicas > 1 else loss
    return loss


def _placed(context: Any, tensors: Any) -> Any:
    """`tensors` copied onto this worker's device when it has one replica: a collective of a tensor
    with no device fails under `MultiWorkerMirroredStrategy` in a `tf.function` ("destinations can
    not be empty"). With several local replicas, their tensors already carry their devices."""
    tf = sys.modules["tensorflow"]
    devices = context.strategy.extended.worker_devices
    if len(devices) != 1:
        return tensors
    with tf.device(devices[0]):
        return tf.nest.map_structure(tf.identity, tensors)


def apply_gradients(optimizer: Any, gradients: list[Any], variables: list[Any]) -> None:
    """`optimizer.apply_gradients` in a replica context, the gradients summed across replicas.

    Keras 3.5 and later sum them inside `apply_gradients`. Keras 3.3 and 3.4
    try to sum them only after entering the cross-replica context, where the
    sum is skipped, so each replica would update its copy of the weights with
    its own gradients: there they are summed here first.
    """
    if _version() < GRADIENTS_SUMMED_ACROSS_REPLICAS_SINCE:
        context = sys.modules["tensorflow"].distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            present = [index for index, gradient in enumerate(gradients) if gradient is not None]
            summed = context.all_reduce("sum", _placed(context, [gradients[index] for index in present]))
            gradients = list(gradients)
            for index, gradient in zip(present, summed, strict=True):
                gradients[index] = gradient
    optimizer.apply_gradients(zip(gradients, variables, strict=True))


def compute_metrics(model: Any, x: Any, y: Any, y_pred: Any, sample_weight: Any) -> None:
    """`model.compute_metrics` in a replica context, so that the metric state covers the global batch.

    Keras 3.10 and later keep metric variables synchronized on read: each
    replica adds its rows and a read sums the replicas. Keras 3.3 to 3.9 keep
    one independent copy per replica, and a read sees one replica's rows only;
    there every replica updates its copy with the rows of all replicas
    (all-gathered), which keeps the copies equal and global.
    """
    if _version() < METRICS_SYNCHRONIZED_ON_READ_SINCE:
        tf = sys.modules["tensorflow"]
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:

            def gather(structure: Any) -> Any:
                if structure is None:
                    return None
                return tf.nest.map_structure(
                    lambda tensor: context.all_gather(_placed(context, tensor), axis=0), structure
                )

            x, y, y_pred, sample_weight = gather(x), gather(y), gather(y_pred), gather(sample_weight)
    model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def relocate_variables(model: Any, device: str) -> None:
    """Moves the storage of each of `model`'s variables onto `device`, keeping the variable objects.

    Uses the private `_initialize(value)` of Keras 3's TensorFlow variables,
    which replaces the backing `tf.Variable` (created under the current device scope).
    """
    tf = sys.modules["tensorflow"]
    for variable in model.variables:
        with tf.device(device):
            variable._initialize(tf.identity(variable.value))
