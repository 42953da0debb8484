"""`print_summary` and `count_params`: the Keras 2.2.4 text summary of a Keras 3 model.

The table is the 2.2.4 one character for character: `_` and `=` rules, fixed
columns cut at `positions`, `multiple` for layers without a single output
shape, one row per further inbound connection and a `{:,}` footer. `print_fn`
gets one call per line, as in 2.2.4. The summary is also returned as a
`ModelSummary` with the rows, the totals and the parameter bytes per dtype.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import _introspect
from .errors import ModelNotBuiltError, SummaryPositionsError

__all__ = [
    "ModelNotBuiltError",
    "ModelSummary",
    "SummaryPositionsError",
    "SummaryRow",
    "count_params",
    "print_summary",
]

_SEQUENTIAL_LAYOUT = (65, (0.45, 0.85, 1.0), ("Layer (type)", "Output Shape", "Param #"))
_GRAPH_LAYOUT = (98, (0.33, 0.55, 0.67, 1.0), ("Layer (type)", "Output Shape", "Param #", "Connected to"))
_NESTED_PREFIX = "| "


@dataclass(frozen=True)
class SummaryRow:
    """One layer of a summary.

    Attributes:
        name: The layer name.
        class_name: The layer class name.
        output_shape: The shape text as printed (`(None, 32)`, `multiple`, ...).
        param_count: Number of scalars in the layer's weights (shared ones once).
        built: False for a layer that was never built (it has no weights yet).
        connections: The "Connected to" entries, `name[node_index][tensor_index]`.
        depth: 0 for the model's own layers, 1+ for layers of nested models
            (with `expand_nested=True`).
    """

    name: str
    class_name: str
    output_shape: str
    param_count: int
    built: bool = True
    connections: tuple[str, ...] = ()
    depth: int = 0


@dataclass(frozen=True)
class ModelSummary:
    """The summary of a model, as data; `str(summary)` is the printed table.

    Attributes:
        model_name: The model's name.
        rows: One `SummaryRow` per printed layer, in order.
        total_params: Trainable plus non-trainable parameters.
        trainable_params: Scalars in the model's trainable weights.
        non_trainable_params: Scalars in the model's non-trainable weights.
        param_bytes: Bytes of weights per dtype name, e.g. `{'float32': 76}`.
        lines: The printed lines (what `print_fn` received).
    """

    model_name: str
    rows: tuple[SummaryRow, ...]
    total_params: int
    trainable_params: int
    non_trainable_params: int
    param_bytes: dict[str, int] = field(default_factory=dict)
    lines: tuple[str, ...] = ()

    @property
    def total_param_bytes(self) -> int:
        """Bytes taken by all the weights (each shared weight once)."""
        return sum(self.param_bytes.values())

    def to_dict(self) -> dict[str, Any]:
        """Returns the summary as plain Python data (e.g. for JSON)."""
        return asdict(self)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def count_params(weights: Iterable[Any]) -> int:
    """Counts the scalars in a list of weights, each variable counted once.

    Args:
        weights: Variables or arrays (anything with a `shape`). A variable
            listed several times (a shared weight) is counted once.

    Returns:
        The total number of scalars, as an `int`.

    Raises:
        TypeError: If an item has no `shape` or a dimension is unknown.

    Example:

    >>> import numpy as np
    >>> w = np.zeros((3, 4))
    >>> count_params([w, np.zeros(4), w])
    16
    """
    return sum(math.prod(_static_shape(weight)) for weight in _unique(weights))


def print_summary(
    model: Any,
    line_length: int | None = None,
    positions: Sequence[float] | None = None,
    print_fn: Callable[[str], Any] | None = None,
    *,
    expand_nested: bool = False,
) -> ModelSummary:
    """Prints a summary of a model, in the Keras 2.2.4 layout.

    Sequential models, and graphs where each layer feeds the next, get three
    columns (`Layer (type)`, `Output Shape`, `Param #`); other graphs get a
    fourth, `Connected to`, listing each input as `name[node_index][tensor_index]`.

    Args:
        model: A built Keras model (Sequential, functional or subclassed).
        line_length: Total length of printed lines. Defaults to 65 for the
            3-column layout and 98 for the 4-column one.
        positions: Where each column ends, relative (all <= 1, e.g.
            `[.45, .85, 1.]`) or absolute (e.g. `[30, 60, 70]`). Defaults to
            `[.45, .85, 1.]` or `[.33, .55, .67, 1.]`.
        print_fn: Called with each line of the summary (one call per line).
            Defaults to `print`.
        expand_nested: Also list the layers of nested models, under their
            model's row, prefixed with `| ` per nesting level.

    Returns:
        A `ModelSummary`: rows, parameter totals, parameter bytes per dtype;
        `str()` of it is the printed table.

    Raises:
        TypeError: If `model` is not a Keras model.
        ModelNotBuiltError: (a `ValueError`) if the model was never built.
        SummaryPositionsError: (a `ValueError` and `IndexError`) if
            `positions` has fewer entries than there are columns.
        ValueError: If `line_length` is not a positive integer.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")])
    >>> summary = print_summary(model, print_fn=lambda line: None)
    >>> summary.total_params
    15
    """
    _introspect.ensure_built(model, "print_summary")
    sequential_like = _introspect.is_sequential_like(model)
    return summary_from_rows(
        str(getattr(model, "name", type(model).__name__)),
        _collect_rows(model, sequential_like, expand_nested),
        trainable_params=count_params(model.trainable_weights),
        non_trainable_params=count_params(model.non_trainable_weights),
        param_bytes=_bytes_by_dtype(list(model.trainable_weights) + list(model.non_trainable_weights)),
        sequential_like=sequential_like,
        line_length=line_length,
        positions=positions,
        print_fn=print_fn,
    )


def summary_from_rows(
    model_name: str,
    rows: Sequence[SummaryRow],
    *,
    trainable_params: int,
    non_trainable_params: int,
    param_bytes: dict[str, int],
    sequential_like: bool,
    line_length: int | None = None,
    positions: Sequence[float] | None = None,
    print_fn: Callable[[str], Any] | None = None,
) -> ModelSummary:
    """Lays rows out as the Keras 2.2.4 summary table and prints it; `print_summary` without a model.

    Used for models described by other means than a live Keras model, e.g.
    `kutils summary` on a file that today's Keras cannot load.

    Args:
        model_name: The model's name.
        rows: One `SummaryRow` per layer, in order.
        trainable_params: The footer's trainable parameter count.
        non_trainable_params: The footer's non-trainable parameter count.
        param_bytes: Bytes of weights per dtype name.
        sequential_like: Three columns (True) or four with `Connected to`.
        line_length: As in `print_summary`.
        positions: As in `print_summary`.
        print_fn: As in `print_summary`.

    Returns:
        The `ModelSummary`.

    Raises:
        SummaryPositionsError: As in `print_summary`.
        ValueError: If `line_length` is not a positive integer.

    Example:

    >>> row = SummaryRow(name="d", class_name="Dense", output_shape="(None, 3)", param_count=15)
    >>> summary = summary_from_rows(
    ...     "m", [row], trainable_params=15, non_trainable_params=0, param_bytes={},
    ...     sequential_like=True, print_fn=lambda line: None)
    >>> summary.lines[3]
    'd (Dense)                    (None, 3)                 15       '
    """
    default_length, default_positions, header = _SEQUENTIAL_LAYOUT if sequential_like else _GRAPH_LAYOUT
    length = _check_line_length(default_length if line_length is None else line_length)
    columns = _column_ends(positions or default_positions, length, len(header))
    lines = _render(header, rows, columns, length, trainable_params, non_trainable_params, sequential_like)
    summary = ModelSummary(
        model_name=model_name,
        rows=tuple(rows),
        total_params=trainable_params + non_trainable_params,
        trainable_params=trainable_params,
        non_trainable_params=non_trainable_params,
        param_bytes=dict(param_bytes),
        lines=tuple(lines),
    )
    emit = print if print_fn is None else print_fn
    for line in lines:
        emit(line)
    return summary


def _check_line_length(line_length: Any) -> int:
    if isinstance(line_length, bool) or not isinstance(line_length, int | np.integer) or line_length < 1:
        raise ValueError(f"line_length={line_length!r} must be a positive integer (e.g. 65 or 98).")
    return int(line_length)


def _column_ends(positions: Sequence[float], line_length: int, n_columns: int) -> list[int]:
    ends = list(positions)
    if len(ends) < n_columns:
        raise SummaryPositionsError(
            f"positions={list(positions)!r} gives {len(ends)} column ends, but this summary has "
            f"{n_columns} columns; pass {n_columns} values, relative (<= 1) or absolute."
        )
    if ends[-1] <= 1:
        return [int(line_length * p) for p in ends]
    return [int(p) for p in ends]


def _collect_rows(model: Any, sequential_like: bool, expand_nested: bool) -> list[SummaryRow]:
    rows: list[SummaryRow] = []

    def add(container: Any, depth: int) -> None:
        graph = None if sequential_like else _introspect.graph_of(container)
        relevant = _introspect.relevant_node_ids(graph) if graph is not None else None
        for layer in _introspect.summary_layers(container):
            rows.append(_row(layer, relevant, depth, sequential_like))
            if expand_nested and _introspect.sublayers(layer):
                add(layer, depth + 1)

    add(model, 0)
    return rows


def _row(layer: Any, relevant: set[int] | None, depth: int, sequential_like: bool) -> SummaryRow:
    shape = _introspect.output_shape(layer)
    built = bool(getattr(layer, "built", True))
    connections = () if sequential_like else tuple(_introspect.inbound_connections(layer, relevant))
    return SummaryRow(
        name=str(layer.name),
        class_name=type(layer).__name__,
        output_shape="multiple" if shape is None else str(shape),
        param_count=count_params(getattr(layer, "weights", ())),
        built=built,
        connections=connections,
        depth=depth,
    )


def _render(
    header: Sequence[str],
    rows: Sequence[SummaryRow],
    columns: Sequence[int],
    line_length: int,
    trainable: int,
    non_trainable: int,
    sequential_like: bool,
) -> list[str]:
    lines = ["_" * line_length, _format_row(header, columns), "=" * line_length]
    for index, row in enumerate(rows):
        params = str(row.param_count) if row.built else "0 (unbuilt)"
        cells = [f"{_NESTED_PREFIX * row.depth}{row.name} ({row.class_name})", row.output_shape, params]
        if not sequential_like:
            cells.append(row.connections[0] if row.connections else "")
        lines.append(_format_row(cells, columns))
        lines.extend(_format_row(["", "", "", extra], columns) for extra in row.connections[1:])
        lines.append(("=" if index == len(rows) - 1 else "_") * line_length)
    lines += [
        f"Total params: {trainable + non_trainable:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {non_trainable:,}",
        "_" * line_length,
    ]
    return lines


def _format_row(cells: Sequence[str], columns: Sequence[int]) -> str:
    """Lays cells out as Keras 2.2.4 did: each cell cut or padded to end at its column.

    A cell that reaches its column end loses its last character to the space
    that separates it from the next cell.
    """
    line = ""
    for index, cell in enumerate(cells):
        if index > 0:
            line = line[:-1] + " "
        line = (line + str(cell))[: columns[index]]
        line += " " * (columns[index] - len(line))
    return line


def _unique(weights: Iterable[Any]) -> list[Any]:
    return list({id(weight): weight for weight in weights}.values())


def _static_shape(weight: Any) -> tuple[int, ...]:
    shape = getattr(weight, "shape", None)
    if shape is None:
        raise TypeError(
            f"count_params expects variables or arrays with a `shape`; got {type(weight).__name__}: "
            f"{weight!r}."
        )
    dims = shape.as_list() if hasattr(shape, "as_list") else list(shape)
    if any(dim is None for dim in dims):
        raise TypeError(f"count_params cannot count {weight!r}: its shape {tuple(dims)} has unknown dims.")
    return tuple(int(dim) for dim in dims)


def _bytes_by_dtype(weights: Iterable[Any]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for weight in _unique(weights):
        name = _dtype_name(weight.dtype)
        totals[name] = totals.get(name, 0) + math.prod(_static_shape(weight)) * _dtype_size(name)
    return totals


def _dtype_name(dtype: Any) -> str:
    return str(getattr(dtype, "name", dtype))


def _dtype_size(name: str) -> int:
    try:
        return int(np.dtype(name).itemsize)
    except TypeError:  # bfloat16, float8_*: sized by the trailing bit count in the name
        bits = re.search(r"(\d+)", name.split("_")[0])
        if bits is None:
            raise
        return max(1, int(bits.group(1)) // 8)
