"""Tests for kutils.print_summary / count_params on real Keras 3 models.

The golden files in tests/golden/ were written from hand-derived cells (layer
names, shapes, parameter counts worked out from the layer sizes, connections
`name[node][tensor]`) laid out with the Keras 2.2.4 `print_row` rule: a cell is
appended after replacing the line's last character by a space, then the line
is cut or padded to the column end; rules are `_` (between rows) and `=`
(after the header and the last row); the footer uses `{:,}`.
"""

from __future__ import annotations

import math

import _summary_support as models
import numpy as np
import pytest

import kutils
from kutils import layer_utils
from kutils._introspect import ModelNotBuiltError
from kutils._keras import import_tensorflow
from kutils.summary import ModelSummary, SummaryPositionsError, count_params, print_summary

GOLDEN_CASES = [
    ("sequential", models.sequential, {}),
    ("functional_chain", models.functional_chain, {}),
    ("multi_io", models.multi_io, {}),
    ("multiple", models.multiple_shapes, {}),
    ("nested_expanded", models.nested, {"expand_nested": True}),
]


def _capture(model, **kwargs):
    lines: list[str] = []
    summary = print_summary(model, print_fn=lines.append, **kwargs)
    return summary, lines


@pytest.mark.parametrize(("golden", "build", "kwargs"), GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_summary_matches_golden_text(golden, build, kwargs):
    """The printed lines and str(summary) equal the 2.2.4 layout derived by hand."""
    summary, lines = _capture(build(), **kwargs)
    expected = models.golden(golden).splitlines()
    assert lines == expected
    assert str(summary) == "\n".join(expected)


@pytest.mark.parametrize(("golden", "build", "kwargs"), GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_totals_equal_keras_counts(golden, build, kwargs):
    """Total, trainable and non-trainable counts match Keras' own count of the model's weights."""
    model = build()
    summary, _ = _capture(model, **kwargs)
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    non_trainable = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    assert summary.total_params == model.count_params()
    assert (summary.trainable_params, summary.non_trainable_params) == (trainable, non_trainable)
    assert summary.total_param_bytes == sum(math.prod(w.shape) * 4 for w in model.weights)


def test_print_fn_called_once_per_line_and_print_by_default(capsys):
    """print_fn gets one call per line; without it the lines go to stdout through print."""
    model = models.sequential()
    summary, lines = _capture(model)
    assert len(lines) == len(summary.lines)
    assert all("\n" not in line for line in lines)
    print_summary(model)
    assert capsys.readouterr().out == models.golden("sequential")


def test_absolute_positions_cut_long_cells():
    """Absolute positions set the column ends and a too-long name is cut at its column."""
    keras = models.keras_module()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, name="a_very_long_layer_name")])
    _summary, lines = _capture(model, line_length=50, positions=[20, 35, 50])
    assert lines == models.golden("custom_layout").splitlines()
    assert all(len(line) == 50 for line in lines[:5])


def test_relative_positions_scale_with_line_length():
    """Relative positions are multiplied by line_length, truncated to int (2.2.4 rule)."""
    _, lines = _capture(models.functional_chain(), line_length=40, positions=[0.5, 0.8, 1.0])
    assert lines[0] == "_" * 40
    # Columns end at 20, 32, 40; each cell but the last gives its final character to a space.
    assert lines[1] == "Layer (type)".ljust(19) + " " + "Output Shap" + " " + "Param #".ljust(8)
    assert lines[3] == "inp (InputLayer)".ljust(19) + " " + "(None, 8)".ljust(11) + " " + "0".ljust(8)


def test_four_positions_accepted_for_three_column_layout():
    """A 4-entry positions list (the documented default) works for a sequential model, as in 2.2.4."""
    _, lines = _capture(models.sequential(), positions=[0.33, 0.55, 0.67, 1.0])
    assert lines[1].startswith("Layer (type)".ljust(20) + " Output Shape")


def test_too_few_positions_raise_typed_error():
    """Fewer positions than columns raise SummaryPositionsError (ValueError and IndexError)."""
    with pytest.raises(SummaryPositionsError, match=r"positions=\[0\.5, 1\.0\].*4 columns") as info:
        print_summary(models.multi_io(), positions=[0.5, 1.0], print_fn=lambda line: None)
    assert isinstance(info.value, IndexError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", [0, -5, 2.5, "65", True])
def test_bad_line_length_raises(bad):
    """line_length must be a positive int; the error names the bad value."""
    with pytest.raises(ValueError, match="line_length=") as info:
        print_summary(models.sequential(), line_length=bad, print_fn=lambda line: None)
    assert repr(bad) in str(info.value)


def test_unbuilt_model_error_says_how_to_build():
    """An unbuilt model raises ModelNotBuiltError (a ValueError) naming the model and how to build it."""
    keras = models.keras_module()
    model = keras.Sequential([keras.layers.Dense(3)], name="not_built_yet")
    with pytest.raises(ModelNotBuiltError, match="not_built_yet") as info:
        print_summary(model)
    assert isinstance(info.value, ValueError)
    assert "model.build(" in str(info.value)
    assert "keras.Input" in str(info.value)


@pytest.mark.parametrize("not_a_model", [None, "model", [1, 2]])
def test_non_model_raises_type_error_naming_it(not_a_model):
    """Anything but a Keras model raises TypeError naming what was passed."""
    with pytest.raises(TypeError, match=f"got {type(not_a_model).__name__}"):
        print_summary(not_a_model)


def test_subclassed_model_rows_are_multiple_and_counts_exact():
    """A subclassed model gets the 3-column layout, `multiple` shapes, and exact counts."""
    model = models.subclassed()
    summary, lines = _capture(model)
    assert [(r.name, r.output_shape, r.param_count) for r in summary.rows] == [
        ("first", "multiple", 5 * 4 + 4),
        ("second", "multiple", 4 * 2 + 2),
    ]
    assert lines[1].rstrip() == "Layer (type)                 Output Shape              Param #"
    assert summary.total_params == model.count_params() == 34


@pytest.mark.filterwarnings("ignore:`build\\(\\)` was called on layer:UserWarning")
def test_unbuilt_sublayer_shows_unbuilt():
    """A layer of a subclassed model that call() never used shows `0 (unbuilt)`."""
    keras = models.keras_module()

    class WithSpare(keras.Model):
        def __init__(self):
            super().__init__()
            self.used = keras.layers.Dense(2, name="used")
            self.spare = keras.layers.Dense(2, name="spare")

        def call(self, inputs):
            return self.used(inputs)

    model = WithSpare()
    model(np.ones((1, 3), "float32"))
    summary, lines = _capture(model)
    spare = next(r for r in summary.rows if r.name == "spare")
    assert (spare.built, spare.param_count) == (False, 0)
    # "0 (unbuilt)" is 11 characters in the 10-character last column, so the row shows it cut.
    assert any(line.startswith("spare (Dense)") and line.endswith("0 (unbuilt") for line in lines)


def test_bare_keras_op_is_a_row_with_one_line_per_connection():
    """A bare op in a functional model (keras.ops.add; tf.add on tf_keras) is a row, one line per input."""
    keras = models.keras_module()
    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(4, name="d")(x)
    if keras.__name__ == "tf_keras":  # tf_keras has no keras.ops: a TF op becomes a TFOpLambda layer
        added, class_name = import_tensorflow().add(h, h), "TFOpLambda"
    else:
        added, class_name = keras.ops.add(h, h), "Add"
    model = keras.Model(x, added, name="with_op")
    summary, lines = _capture(model)
    add_row = summary.rows[-1]
    assert (add_row.class_name, add_row.connections) == (class_name, ("d[0][0]", "d[0][0]"))
    first = lines.index(next(line for line in lines if line.startswith(f"{add_row.name} ({class_name})")))
    assert lines[first + 1] == " " * 65 + "d[0][0]".ljust(33)


def test_layer_called_twice_in_a_chain_selects_the_connected_to_layout():
    """A chain whose layer is called twice is not sequential-like (2.2.4 shared-layer rule): 98 columns."""
    keras = models.keras_module()
    x = keras.Input((4,), name="x")
    twice = keras.layers.Dense(4, name="d")
    _, lines = _capture(keras.Model(x, twice(twice(x)), name="twice"))
    assert lines[1] == models.golden("multi_io").splitlines()[1]  # the 4-column header
    # Columns end at int(98 * [.33, .55, .67, 1.]) = 32, 53, 65, 98; d has 4 * 4 + 4 weights.
    assert lines[5:7] == [
        "d (Dense)".ljust(32) + "(None, 4)".ljust(21) + "20".ljust(12) + "x[0][0]".ljust(33),
        " " * 65 + "d[0][0]".ljust(33),
    ]


def test_layer_shared_with_another_model_keeps_the_sequential_layout():
    """Only this model's calls count: a layer also used by another model leaves a chain 3-column."""
    keras = models.keras_module()
    shared = keras.layers.Dense(4, name="d")
    other = keras.Input((4,), name="other")
    keras.Model(other, shared(other))
    x = keras.Input((4,), name="x")
    _, lines = _capture(keras.Model(x, shared(x)))
    assert lines[1] == models.golden("sequential").splitlines()[1]  # the 3-column header
    assert lines[5] == "d (Dense)".ljust(29) + "(None, 4)".ljust(26) + "20".ljust(10)


def test_nested_model_without_expand_is_one_row():
    """Without expand_nested a nested model is a single row with its total parameter count."""
    summary, _ = _capture(models.nested())
    assert [(r.name, r.class_name, r.param_count) for r in summary.rows] == [
        ("x", "InputLayer", 0),
        ("encoder", "Functional", 36),
        ("head", "Dense", 5),
    ]


def test_expanded_nested_rows_in_graph_layout_show_inner_connections():
    """In the 4-column layout, expanded inner rows list their connections inside the nested model."""
    keras = models.keras_module()
    inner_in = keras.Input((8,), name="inner_in")
    encoder = keras.Model(inner_in, keras.layers.Dense(4, name="inner_dense")(inner_in), name="encoder")
    a, b = keras.Input((8,), name="a"), keras.Input((8,), name="b")
    model = keras.Model([a, b], keras.layers.Add(name="sum")([encoder(a), encoder(b)]))
    summary, lines = _capture(model, expand_nested=True)
    rows = {(r.name, r.depth): r.connections for r in summary.rows}
    assert rows[("encoder", 0)] == ("a[0][0]", "b[0][0]")
    assert rows[("inner_dense", 1)] == ("inner_in[0][0]",)
    assert rows[("sum", 0)] == ("encoder[0][0]", "encoder[1][0]")
    assert any(line.startswith("| inner_dense (Dense)") for line in lines)


def test_large_counts_use_thousands_separators_in_footer_only():
    """The footer uses {:,} and the Param # cell does not, as in 2.2.4."""
    keras = models.keras_module()
    model = keras.Sequential([keras.Input((1000,)), keras.layers.Dense(1000, name="big")])
    _, lines = _capture(model)
    assert "1001000" in lines[3]
    assert lines[-4:-1] == [
        "Total params: 1,001,000",
        "Trainable params: 1,001,000",
        "Non-trainable params: 0",
    ]


def test_shared_weights_counted_once_and_bytes_by_dtype():
    """A shared layer's weights count once; bytes are reported per dtype (float16 = 2 bytes)."""
    keras = models.keras_module()
    x = keras.Input((4,), name="x")
    shared = keras.layers.Dense(4, name="shared")
    half = keras.layers.Dense(3, dtype="float16", name="half")
    model = keras.Model(x, half(shared(shared(x))))
    summary, _ = _capture(model)
    assert summary.total_params == model.count_params() == (4 * 4 + 4) + (4 * 3 + 3)
    assert summary.param_bytes == {"float32": 20 * 4, "float16": 15 * 2}


def test_summary_object_to_dict_round_trips():
    """to_dict gives plain data with the rows and totals."""
    summary, _ = _capture(models.multi_io())
    data = summary.to_dict()
    assert data["total_params"] == 63
    assert data["rows"][2]["connections"] == ("input_a[0][0]", "input_b[0][0]")
    assert ModelSummary(**{**data, "rows": summary.rows}) == summary


def test_count_params_counts_each_variable_once():
    """count_params sums the sizes of distinct variables and arrays; a repeated one counts once."""
    keras = models.keras_module()
    make_variable = keras.backend.variable if keras.__name__ == "tf_keras" else keras.Variable
    kernel = make_variable(np.zeros((3, 4)))
    bias = np.zeros(4)
    assert count_params([kernel, bias, kernel]) == 16
    assert count_params([]) == 0
    assert isinstance(count_params([bias]), int)


def test_count_params_rejects_objects_without_shape():
    """count_params raises TypeError naming an item that has no shape."""
    with pytest.raises(TypeError, match="'not a weight'"):
        count_params([np.zeros(2), "not a weight"])


def test_public_names_and_keras2_paths():
    """print_summary and count_params are reachable from kutils and kutils.layer_utils."""
    assert kutils.summary.ModelNotBuiltError is ModelNotBuiltError
    assert kutils.print_summary is print_summary is layer_utils.print_summary
    assert layer_utils.count_params is count_params
