"""What a `distributed_fit` caller passed: input kinds turned into plans, and argument checks.

Arrays (and array-likes) become an `ArraySequence` read by a `RowPlan`; an
`ArraySequence` keeps its own batch size and shuffle mode; any other
`Sequence` becomes a `BatchPlan`; a `tf.data.Dataset` a `StreamPlan`
(`_dist_input` says what each worker reads for each). Errors name the
argument, the value and what was expected, in Keras' terms.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import numpy as np

from ._dist_input import BatchPlan, Finisher, Layout, Plan, RowPlan, StreamPlan
from ._keras import KERAS3, import_keras, import_tensorflow
from ._tree import tree
from .sequence import ArraySequence

keras = import_keras("distributed_fit", line=KERAS3)
tf = import_tensorflow("distributed_fit")
nest = tree()  # keras.tree; looked up once

__all__ = [
    "cap_steps",
    "check_infinite",
    "check_save_freq",
    "is_batch_sequence",
    "optional_positive_int",
    "plans",
    "positive_int",
    "validates_after",
    "validation_epochs",
    "validation_plan",
]


def is_batch_sequence(data: Any) -> bool:
    """A Keras `PyDataset`/`Sequence` (kutils' included) or a Keras-2-style object indexed by batch."""
    if isinstance(data, keras.utils.PyDataset):
        return True
    return hasattr(data, "__getitem__") and hasattr(data, "__len__") and hasattr(data, "on_epoch_end")


def _as_array_like(value: Any, argument: str) -> Any:
    if isinstance(value, list):
        return np.asarray(value)
    if not (hasattr(value, "__getitem__") and hasattr(value, "__len__")):
        raise TypeError(
            f"distributed_fit: `{argument}` must hold numpy arrays or array-likes (with __len__ and "
            f"__getitem__, e.g. HDF5Matrix); got {type(value).__name__}: {value!r:.80}"
        )
    return value


def _structure_of_arrays(data: Any, argument: str) -> Any:
    if isinstance(data, dict):
        return {key: _as_array_like(value, argument) for key, value in data.items()}
    if isinstance(data, tuple | list) and data and not np.isscalar(data[0]):
        return [_as_array_like(value, argument) for value in data]
    return _as_array_like(data, argument)


def _array_sequence(x: Any, y: Any, sample_weight: Any, batch_size: int) -> ArraySequence:
    """Arrays as an `ArraySequence` (its checks, and its reader); mismatched rows name the lengths."""
    parts = [_structure_of_arrays(x, "x"), _structure_of_arrays(y, "y")]
    weights = None if sample_weight is None else _structure_of_arrays(sample_weight, "sample_weight")
    lengths = sorted(
        {len(leaf) for part in (*parts, weights) if part is not None for leaf in nest.flatten(part)}
    )
    if len(lengths) != 1:
        raise ValueError(
            f"distributed_fit: x, y and sample_weight must have the same number of rows; got {lengths}"
        )
    return ArraySequence(parts[0], parts[1], weights, batch_size=batch_size)


def _check_batched(data: Any, y: Any, sample_weight: Any, validation_split: float) -> None:
    if y is not None or sample_weight is not None:
        raise ValueError(
            f"distributed_fit: `y` and `sample_weight` must be None when x is a {type(data).__name__} "
            "(it yields (x, y[, sample_weight]) batches itself)"
        )
    if validation_split:
        raise ValueError(
            f"distributed_fit: validation_split={validation_split} needs x and y as arrays; x is a "
            f"{type(data).__name__}. Pass validation_data= instead"
        )


def _validation_rows(count: int, validation_split: float) -> tuple[range, range | None]:
    """Keras' split: the last `validation_split` of the rows (before any shuffling) validate."""
    if not validation_split:
        return range(count), None
    split_at = math.floor(count * (1.0 - validation_split))
    if split_at in (0, count):
        raise ValueError(
            f"distributed_fit: validation_split={validation_split} leaves no rows for training or none for "
            f"validation with {count} rows; choose a fraction that leaves rows on both sides"
        )
    return range(split_at), range(split_at, count)


def plans(
    x: Any,
    y: Any,
    sample_weight: Any,
    *,
    batch_size: int,
    shuffle: bool | str,
    validation_split: float,
    layout: Layout,
    finish: Finisher,
) -> tuple[Plan, Plan | None]:
    """The training plan, and the validation plan that `validation_split` implies (or None)."""
    if isinstance(x, tf.data.Dataset):
        _check_batched(x, y, sample_weight, validation_split)
        return StreamPlan(x, layout, finish), None
    if isinstance(x, ArraySequence):
        _check_batched(x, y, sample_weight, validation_split)
        mode = "chunks" if x._windows is not None else x.shuffle or ("batches" if shuffle else False)
        return RowPlan(x, range(x.num_samples), x.batch_size, mode, layout, finish), None
    if is_batch_sequence(x):
        _check_batched(x, y, sample_weight, validation_split)
        return BatchPlan(x, bool(shuffle), layout, finish), None
    if x is None or y is None:
        raise ValueError(
            f"distributed_fit: give both x and y arrays (or a dataset / Sequence as x); got y={y!r}"
        )
    source = _array_sequence(x, y, sample_weight, batch_size)
    train_rows, validation_rows = _validation_rows(source.num_samples, validation_split)
    train = RowPlan(source, train_rows, batch_size, shuffle, layout, finish)
    if validation_rows is None:
        return train, None
    return train, RowPlan(source, validation_rows, batch_size, False, layout, Finisher(None))


def validation_plan(data: Any, batch_size: int, layout: Layout) -> Plan:
    finish = Finisher(None)
    if isinstance(data, tf.data.Dataset) or is_batch_sequence(data):
        plan, _ = plans(
            data,
            None,
            None,
            batch_size=batch_size,
            shuffle=False,
            validation_split=0.0,
            layout=layout,
            finish=finish,
        )
        return plan
    if not (isinstance(data, tuple | list) and len(data) in (2, 3)):
        raise ValueError(
            "distributed_fit: validation_data must be (x_val, y_val), (x_val, y_val, sample_weight), a "
            f"tf.data dataset or a Sequence; got {type(data).__name__} of length "
            f"{len(data) if hasattr(data, '__len__') else 'n/a'}"
        )
    x, y, weights = (*data, None)[:3]
    source = _array_sequence(x, y, weights, batch_size)
    return RowPlan(source, range(source.num_samples), batch_size, False, layout, finish)


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"distributed_fit: {name}={value!r} must be a positive int")
    return int(value)


def optional_positive_int(value: Any, name: str) -> int | None:
    return None if value is None else positive_int(value, name)


def validation_epochs(validation_freq: int | Collection[int]) -> Collection[int] | int:
    """An int n (validate every n epochs) or the 1-based epochs to validate after, checked."""
    if isinstance(validation_freq, int | np.integer) and not isinstance(validation_freq, bool):
        return positive_int(validation_freq, "validation_freq")
    if isinstance(validation_freq, Collection) and not isinstance(validation_freq, str | bytes):
        return frozenset(positive_int(epoch, "each epoch in validation_freq") for epoch in validation_freq)
    raise ValueError(
        f"distributed_fit: validation_freq={validation_freq!r} must be a positive int (validate every n "
        "epochs) or a collection of 1-based epoch numbers"
    )


def validates_after(epoch: int, validation_freq: Collection[int] | int) -> bool:
    if isinstance(validation_freq, int):
        return (epoch + 1) % validation_freq == 0
    return epoch + 1 in validation_freq


def check_save_freq(save_freq: Any) -> int | None:
    """None for 'epoch' (epoch ends only), else the number of steps between backups."""
    if save_freq == "epoch":
        return None
    return positive_int(save_freq, "save_freq ('epoch' or a number of steps)")


def check_infinite(plan: Plan | None, steps: int | None, argument: str, role: str) -> None:
    if isinstance(plan, StreamPlan) and plan.infinite and steps is None:
        raise ValueError(
            f"distributed_fit: the {role} tf.data dataset is infinite (.repeat()); give {argument}= "
            "(steps per epoch) or a finite dataset"
        )


def cap_steps(steps: int | None, plan: Plan) -> int | None:
    """`validation_steps`, at most one pass over finite validation data (Keras stops there too)."""
    per_pass = plan.batches_per_pass
    return steps if steps is None or per_pass is None else min(steps, per_pass)
