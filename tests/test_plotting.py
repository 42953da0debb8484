"""Tests for kutils.model_to_dot / plot_model with real Keras 3 models, pydot and Graphviz `dot`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import _summary_support as models
import pydot
import pytest

import kutils
from kutils import vis_utils
from kutils._introspect import ModelNotBuiltError
from kutils.plotting import (
    GraphvizNotFoundError,
    UnsupportedPlotFormatError,
    model_to_dot,
    plot_model,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[1]


def _labels(dot) -> dict[str, str]:
    """Maps node id -> label for every layer node of a graph, clusters included."""
    found = {}
    for node in dot.get_nodes():
        label = node.get_label()
        if label is not None:
            found[node.get_name()] = label.strip('"')
    for sub in dot.get_subgraphs():
        found.update(_labels(sub))
    return found


def _edges_by_name(dot) -> set[tuple[str, str]]:
    """Edges as (source layer name, destination layer name), from the node labels."""
    names = {node_id: label.split(":")[0] for node_id, label in _labels(dot).items()}
    edges = set()
    graphs = [dot, *dot.get_subgraphs()]
    for graph in graphs:
        for edge in graph.get_edges():
            edges.add((names[edge.get_source()], names[edge.get_destination()]))
    return edges


def test_sequential_graph_structure_and_attributes():
    """A Sequential draws its input layer and a chain of `name: Class` record nodes (2.2.5 layout)."""
    dot = model_to_dot(models.sequential())
    assert isinstance(dot, pydot.Dot)
    assert sorted(_labels(dot).values()) == sorted(
        [
            "seq_input: InputLayer",
            "dense_1: Dense",
            "bn: BatchNormalization",
            "dropout_1: Dropout",
            "dense_2: Dense",
        ]
    )
    assert _edges_by_name(dot) == {
        ("seq_input", "dense_1"),
        ("dense_1", "bn"),
        ("bn", "dropout_1"),
        ("dropout_1", "dense_2"),
    }
    assert (dot.get("rankdir"), dot.get("concentrate"), dot.get("dpi")) == ("TB", True, 96)
    assert dot.get_node("node")[0].get("shape") == "record"


def test_show_layer_names_false_gives_class_names():
    """show_layer_names=False labels nodes with the class name only."""
    labels = sorted(_labels(model_to_dot(models.functional_chain(), show_layer_names=False)).values())
    assert labels == ["Dense", "Dense", "InputLayer"]


def test_show_shapes_builds_the_input_output_record():
    """show_shapes gives the 2.2.4 record `label\\n|{input:|output:}|{{in}|{out}}`."""
    labels = set(_labels(model_to_dot(models.multi_io(), show_shapes=True)).values())
    assert "input_a: InputLayer\n|{input:|output:}|{{(None, 8)}|{(None, 8)}}" in labels
    assert "shared_dense: Dense\n|{input:|output:}|{{(None, 8)}|{(None, 4)}}" in labels
    assert "cat: Concatenate\n|{input:|output:}|{{[(None, 4), (None, 4)]}|{(None, 8)}}" in labels


def test_multiple_shapes_and_multi_output_labels():
    """A layer called on different shapes shows `multiple`; a two-output layer a list of shapes."""
    labels = set(_labels(model_to_dot(models.multiple_shapes(), show_shapes=True)).values())
    assert "proj: Dense\n|{input:|output:}|{{multiple}|{multiple}}" in labels
    assert "split: Lambda\n|{input:|output:}|{{(None, 6)}|{[(None, 3), (None, 3)]}}" in labels


def test_multi_io_edges_follow_the_graph():
    """Every call of a shared layer draws its edge; duplicate edges are drawn once."""
    assert _edges_by_name(model_to_dot(models.multi_io())) == {
        ("input_a", "shared_dense"),
        ("input_b", "shared_dense"),
        ("shared_dense", "cat"),
        ("cat", "out_main"),
        ("cat", "out_aux"),
    }


def test_nested_model_is_one_node_unless_expanded():
    """A nested model is one node; expand_nested draws it as a dashed cluster wired to its layers."""
    model = models.nested()
    flat = model_to_dot(model)
    assert "encoder: Functional" in _labels(flat).values()
    assert _edges_by_name(flat) == {("x", "encoder"), ("encoder", "head")}

    expanded = model_to_dot(model, expand_nested=True)
    (cluster,) = expanded.get_subgraphs()
    assert cluster.get_name() == "cluster_encoder"
    assert (cluster.get("style"), cluster.get("label")) == ("dashed", "encoder")
    assert sorted(_labels(cluster).values()) == ["inner_dense: Dense", "inner_in: InputLayer"]
    assert _edges_by_name(expanded) == {
        ("x", "inner_in"),
        ("inner_in", "inner_dense"),
        ("inner_dense", "head"),
    }


def test_expanded_nested_sequential_wires_into_its_layers():
    """With expand_nested, edges enter a nested Sequential at its input and leave from its last layer."""
    keras = models.keras_module()
    block = keras.Sequential(
        [keras.Input((4,), name="block_in"), keras.layers.Dense(3, name="b1")], name="block"
    )
    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.layers.Dense(1, name="head")(block(x)))
    edges = _edges_by_name(model_to_dot(model, expand_nested=True))
    assert edges == {("x", "block_in"), ("block_in", "b1"), ("b1", "head")}


def test_expanded_nested_model_with_two_inputs_and_outputs_wires_each_one():
    """Each outer input enters the nested input it feeds; each head leaves from the layer it uses."""
    keras = models.keras_module()
    p, q = keras.Input((4,), name="p"), keras.Input((4,), name="q")
    pair = keras.Model(
        [p, q], [keras.layers.Dense(2, name="pd")(p), keras.layers.Dense(3, name="qd")(q)], name="pair"
    )
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    u, v = pair([a, b])
    model = keras.Model([a, b], [keras.layers.Dense(1, name="hu")(u), keras.layers.Dense(1, name="hv")(v)])
    assert _edges_by_name(model_to_dot(model, expand_nested=True)) == {
        ("a", "p"),
        ("b", "q"),
        ("p", "pd"),
        ("q", "qd"),
        ("pd", "hu"),
        ("qd", "hv"),
    }


def test_wrapper_label_names_the_wrapped_layer():
    """A Wrapper is labelled `name(inner): Wrapper(InnerClass)`, as in 2.2.4."""
    keras = models.keras_module()
    x = keras.Input((3, 4), name="x")
    wrapped = keras.layers.TimeDistributed(keras.layers.Dense(2, name="inner"), name="td")(x)
    labels = _labels(model_to_dot(keras.Model(x, wrapped)))
    assert "td(inner): TimeDistributed(Dense)" in labels.values()


def test_expanded_wrapper_around_a_model_keeps_its_node_and_adds_the_cluster():
    """A Wrapper of a model, expanded, is wired input -> wrapper -> inner cluster -> next layer (2.2.5)."""
    keras = models.keras_module()
    frame = keras.Input((4,), name="frame")
    inner = keras.Model(frame, keras.layers.Dense(2, name="per_frame")(frame), name="frame_model")
    clip = keras.Input((3, 4), name="clip")
    try:
        wrapped = keras.layers.TimeDistributed(inner, name="td")(clip)
    except NotImplementedError:  # Keras 3.3's Functional has no compute_output_shape: give this one its own
        inner.compute_output_shape = lambda shape: (shape[0], 2)
        wrapped = keras.layers.TimeDistributed(inner, name="td")(clip)
    flat = keras.layers.Flatten(name="flat")(wrapped)
    model = keras.Model(clip, flat)
    assert "td(frame_model): TimeDistributed(Functional)" in _labels(model_to_dot(model)).values()
    expanded = model_to_dot(model, expand_nested=True)
    assert "td: TimeDistributed" in _labels(expanded).values()
    assert [sub.get_name() for sub in expanded.get_subgraphs()] == ["cluster_frame_model"]
    assert _edges_by_name(expanded) == {
        ("clip", "td"),
        ("td", "frame"),
        ("frame", "per_frame"),
        ("per_frame", "flat"),
    }


def test_subgraph_true_returns_a_dashed_cluster():
    """subgraph=True gives a pydot.Cluster named and labelled after the model."""
    cluster = model_to_dot(models.functional_chain(), subgraph=True)
    assert isinstance(cluster, pydot.Cluster)
    attributes = (cluster.get_name(), cluster.get("label"), cluster.get("style"))
    assert attributes == ("cluster_chain", "chain", "dashed")


def test_subclassed_model_is_a_single_node():
    """A subclassed model has no layer graph: it is drawn as one node named after the model."""
    dot = model_to_dot(models.subclassed())
    assert list(_labels(dot).values()) == ["two_dense: TwoDense"]
    assert dot.get_edges() == []


def test_rankdir_and_dpi_are_set_and_bad_rankdir_raises():
    """rankdir/dpi reach the graph; an unknown rankdir raises ValueError naming it."""
    dot = model_to_dot(models.functional_chain(), rankdir="LR", dpi=150)
    assert (dot.get("rankdir"), dot.get("dpi")) == ("LR", 150)
    with pytest.raises(ValueError, match="rankdir='XY'"):
        model_to_dot(models.functional_chain(), rankdir="XY")


def test_non_model_raises_type_error():
    """model_to_dot of something that is not a Keras model raises TypeError naming its type."""
    with pytest.raises(TypeError, match="got dict"):
        model_to_dot({"not": "a model"})


def test_unbuilt_model_raises_clear_error():
    """model_to_dot on an unbuilt model raises ModelNotBuiltError (a ValueError) naming it."""
    keras = models.keras_module()
    with pytest.raises(ModelNotBuiltError, match="'lazy'"):
        model_to_dot(keras.Sequential([keras.layers.Dense(2)], name="lazy"))


@pytest.mark.parametrize("build", [models.sequential, models.multi_io, models.nested, models.multiple_shapes])
def test_png_and_svg_render_with_graphviz(tmp_path, monkeypatch, build):
    """plot_model renders real PNG and SVG files; the SVG names every layer."""
    monkeypatch.setitem(sys.modules, "IPython", None)  # the None return below is the no-IPython one
    monkeypatch.setitem(sys.modules, "IPython.display", None)
    model = build()
    png, svg = tmp_path / "model.png", tmp_path / "model.svg"
    assert plot_model(model, to_file=str(png), show_shapes=True, expand_nested=True) is None
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert png.stat().st_size > len(PNG_SIGNATURE)
    plot_model(model, to_file=svg)
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml")
    for name in _labels(model_to_dot(model)).values():
        assert name.split(":")[0] in text


def test_pdf_and_extensionless_files(tmp_path):
    """The format follows the extension (pdf); no extension writes PNG under the given name."""
    model = models.functional_chain()
    plot_model(model, to_file=tmp_path / "graph.pdf")
    assert (tmp_path / "graph.pdf").read_bytes().startswith(b"%PDF")
    plot_model(model, to_file=tmp_path / "graph")
    assert (tmp_path / "graph").read_bytes().startswith(PNG_SIGNATURE)


def test_graphviz_formats_missing_from_pydots_list_render(tmp_path):
    """eps and json, which Graphviz writes but pydot's fixed format list lacks, render as in 2.2.4."""
    model = models.multi_io()
    plot_model(model, to_file=tmp_path / "model.eps")
    assert (tmp_path / "model.eps").read_bytes().startswith(b"%!PS-Adobe")
    plot_model(model, to_file=tmp_path / "model.json")
    drawn = json.loads((tmp_path / "model.json").read_text())
    expected = sorted(_labels(model_to_dot(model)).values())
    assert sorted(node["label"] for node in drawn["objects"]) == expected


def test_record_characters_in_names_are_escaped(tmp_path):
    """Braces, bars and angle brackets in a layer name do not break the record label when rendered.

    tf_keras allows only `>` of them in layer names (TensorFlow name scopes), so it gets that one.
    """
    keras = models.keras_module()
    name = "odd>here" if keras.__name__ == "tf_keras" else "odd{name}|here"
    x = keras.Input((2,), name="x")
    model = keras.Model(x, keras.layers.Dense(1, name=name)(x))
    plot_model(model, to_file=tmp_path / "odd.svg", show_shapes=True)
    assert f"{name.replace('>', '&gt;')}: Dense" in (tmp_path / "odd.svg").read_text()


@pytest.mark.filterwarnings("ignore::DeprecationWarning:pydot.dot_parser")
@pytest.mark.parametrize("extension", ["dot", "gv"])
def test_dot_text_written_without_graphviz(tmp_path, monkeypatch, extension):
    """.dot/.gv files get the DOT text even when no `dot` program is on PATH."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    model = models.multi_io()
    target = tmp_path / f"model.{extension}"
    plot_model(model, to_file=target)
    text = target.read_text()
    assert text == model_to_dot(model).to_string()
    (parsed,) = pydot.graph_from_dot_data(text)
    assert len(parsed.get_edges()) == 5


def test_missing_graphviz_binary_raises_oserror_with_install_help(tmp_path, monkeypatch):
    """No `dot` on PATH: GraphvizNotFoundError (an OSError) naming the file and how to install it."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    target = tmp_path / "model.png"
    with pytest.raises(GraphvizNotFoundError, match=r"model\.png") as info:
        plot_model(models.functional_chain(), to_file=target)
    message = str(info.value)
    assert isinstance(info.value, OSError)
    for hint in (
        "apt-get install graphviz",
        "brew install graphviz",
        "conda install",
        "pip install graphviz",
    ):
        assert hint in message
    assert not target.exists()


def test_unknown_extension_raises_value_error(tmp_path):
    """An extension that is no Graphviz format raises UnsupportedPlotFormatError naming it; no file."""
    target = tmp_path / "model.docx"
    with pytest.raises(UnsupportedPlotFormatError, match="'docx'") as info:
        plot_model(models.functional_chain(), to_file=target)
    assert isinstance(info.value, ValueError)
    assert all(f" {name}," in str(info.value) for name in ("eps", "png", "svg"))  # Graphviz's own list
    assert not target.exists()


_SUBPROCESS_CHECKS = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import keras
    from kutils import model_to_dot, plot_model

    x = keras.Input((3,), name="x")
    model = keras.Model(x, keras.layers.Dense(2, name="d")(x))
    out = sys.argv[2]
    seen = {}
    for ext in ("png", "svg", "pdf"):
        shown = plot_model(model, to_file=f"{out}/m.{ext}")
        seen[ext] = None if shown is None else [type(shown).__name__, shown.filename]

    sys.modules["pydot"] = None  # pydot now fails to import, as if not installed
    for name, call in (("model_to_dot", lambda: model_to_dot(model)),
                       ("plot_model", lambda: plot_model(model, to_file=f"{out}/n.png"))):
        try:
            call()
        except ImportError as error:
            seen[name] = [type(error).__name__, str(error)]
    print(json.dumps(seen))
    """
)


@pytest.mark.slow
def test_ipython_display_and_missing_pydot_in_a_subprocess(tmp_path):
    """With IPython, png/svg return Image/SVG (pdf None); without pydot both functions raise ImportError."""
    stub = tmp_path / "stub" / "IPython"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("")
    (stub / "display.py").write_text(
        "class Image:\n    def __init__(self, filename):\n        self.filename = filename\n"
        "class SVG(Image):\n    pass\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS_CHECKS, str(tmp_path / "stub"), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["png"] == ["Image", f"{tmp_path}/m.png"]
    assert seen["svg"] == ["SVG", f"{tmp_path}/m.svg"]
    assert seen["pdf"] is None
    for name in ("model_to_dot", "plot_model"):
        error_type, message = seen[name]
        assert error_type == "PydotNotFoundError"
        assert "pip install pydot" in message
        assert name in message


def test_plot_model_returns_none_without_ipython(tmp_path, monkeypatch):
    """Without IPython, plot_model returns None like 2.2.4 did."""
    monkeypatch.setitem(sys.modules, "IPython", None)
    monkeypatch.setitem(sys.modules, "IPython.display", None)
    assert plot_model(models.functional_chain(), to_file=tmp_path / "m.png") is None


def test_public_names_and_keras2_paths():
    """plot_model and model_to_dot are reachable from kutils and kutils.vis_utils."""
    assert kutils.plot_model is plot_model is vis_utils.plot_model
    assert kutils.model_to_dot is model_to_dot is vis_utils.model_to_dot
