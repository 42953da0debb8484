"""`model_to_dot` and `plot_model`: Keras 2.2.4/2.2.5 model graphs, drawn with pydot and Graphviz.

Each layer is a record node labelled `name: ClassName` (a wrapper shows
`name(inner): Wrapper(InnerClass)`); with `show_shapes` the node becomes the
2.2.4 `input:/output:` record. `expand_nested` draws nested models as dashed
clusters. Building the graph and writing `.dot` / `.gv` files needs only the
`pydot` package; other formats need the Graphviz `dot` program, and a missing
piece raises one typed error saying what to install.
"""

from __future__ import annotations

import functools
import importlib
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

from . import _introspect
from .errors import GraphvizNotFoundError, ModelNotBuiltError, PydotNotFoundError, UnsupportedPlotFormatError

__all__ = [
    "GraphvizNotFoundError",
    "ModelNotBuiltError",
    "PydotNotFoundError",
    "UnsupportedPlotFormatError",
    "model_to_dot",
    "node_label",
    "plot_model",
    "write_graph",
]

_RANKDIRS = ("TB", "LR", "BT", "RL")
_TEXT_FORMATS = ("dot", "gv")  # written as DOT text, without Graphviz
_RECORD_SPECIALS = str.maketrans({c: "\\" + c for c in "{}|<>"})
_GRAPHVIZ_INSTALL = (
    "Install Graphviz (the program, not a pip package): Debian/Ubuntu `sudo apt-get install graphviz`, "
    "Fedora `sudo dnf install graphviz`, macOS `brew install graphviz`, conda `conda install -c "
    "conda-forge graphviz`, Windows `winget install graphviz` (https://graphviz.org/download/), then "
    "make sure `dot` is on PATH. Note: `pip install graphviz` only installs a Python wrapper. To get "
    "the graph without Graphviz, plot to a '.dot' or '.gv' file."
)


def model_to_dot(
    model: Any,
    show_shapes: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 96,
    subgraph: bool = False,
) -> Any:
    """Converts a Keras model to a `pydot.Dot` graph, as Keras 2.2.4/2.2.5 drew it.

    Needs the `pydot` package only, not the Graphviz program.

    Args:
        model: A built Keras model. A subclassed model has no layer graph and
            is drawn as one node.
        show_shapes: Show each layer's input and output shapes.
        show_layer_names: Show layer names (`name: ClassName`), else only
            class names.
        rankdir: Graph direction: `'TB'` (top to bottom), `'LR'` (left to
            right), `'BT'` or `'RL'`.
        expand_nested: Draw nested models as clusters of their layers.
        dpi: Image resolution in dots per inch.
        subgraph: Return a `pydot.Cluster` (used for nested models).

    Returns:
        A `pydot.Dot` (or `pydot.Cluster` if `subgraph=True`).

    Raises:
        PydotNotFoundError: (an `ImportError`) if `pydot` is not installed.
        TypeError: If `model` is not a Keras model.
        ModelNotBuiltError: (a `ValueError`) if the model was never built.
        ValueError: If `rankdir` is not one of `'TB'`, `'LR'`, `'BT'`, `'RL'`.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((4,), name="x"), keras.layers.Dense(2, name="d")])
    >>> dot = model_to_dot(model)
    >>> sorted(node.get_label() for node in dot.get_nodes() if node.get_label())
    ['d: Dense', 'x: InputLayer']
    """
    pydot = _import_pydot("model_to_dot")
    if rankdir not in _RANKDIRS:
        raise ValueError(f"rankdir={rankdir!r} is not a Graphviz direction; expected one of {_RANKDIRS}.")
    _introspect.ensure_built(model, "model_to_dot")
    drawer = _GraphDrawer(pydot, show_shapes, show_layer_names, expand_nested)
    return drawer.draw(model, rankdir=rankdir, dpi=dpi, subgraph=subgraph)


def plot_model(
    model: Any,
    to_file: str | os.PathLike[str] = "model.png",
    show_shapes: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 96,
) -> Any:
    """Draws a Keras model to an image file.

    The format comes from the file extension (`png`, `svg`, `pdf`, `jpg`,
    `dot`, `gv`, ... ; `png` if there is none). `.dot` and `.gv` files get the
    DOT text and need no Graphviz program; other formats are rendered by
    Graphviz `dot`, and the file is only written once rendering succeeded.

    Args:
        model: A built Keras model.
        to_file: Where to write the image.
        show_shapes: Show each layer's input and output shapes.
        show_layer_names: Show layer names.
        rankdir: `'TB'` (vertical), `'LR'` (horizontal), `'BT'` or `'RL'`.
        expand_nested: Draw nested models as clusters of their layers.
        dpi: Image resolution in dots per inch.

    Returns:
        An `IPython.display.Image` (or `SVG` for `.svg` files) showing the
        plot when IPython is installed, so notebooks display it; else None.

    Raises:
        PydotNotFoundError: (an `ImportError`) if `pydot` is not installed.
        GraphvizNotFoundError: (an `OSError`) if the image format needs the
            Graphviz `dot` program and it is not on PATH.
        UnsupportedPlotFormatError: (a `ValueError`) for an extension that
            names no Graphviz output format.
        TypeError: If `model` is not a Keras model.
        ModelNotBuiltError: (a `ValueError`) if the model was never built.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> plot_model(model, to_file="model.dot")  # no Graphviz needed for .dot
    """
    path, extension = _output_format(_import_pydot("plot_model"), to_file)
    dot = model_to_dot(model, show_shapes, show_layer_names, rankdir, expand_nested, dpi)
    _write(dot, path, extension)
    return _notebook_image(path, extension)


def write_graph(dot: Any, to_file: str | os.PathLike[str]) -> str:
    """Writes a pydot graph to a file, in the format its extension names, as `plot_model` does.

    Args:
        dot: A `pydot.Dot` (from `model_to_dot` or built by other means).
        to_file: Where to write; `.dot`/`.gv` get the DOT text, other
            extensions are rendered by Graphviz (`png` if there is none).

    Returns:
        The format written (the extension, e.g. `'png'`).

    Raises:
        PydotNotFoundError: (an `ImportError`) if `pydot` is not installed.
        GraphvizNotFoundError: (an `OSError`) if the format needs Graphviz
            and its `dot` program is not on PATH.
        UnsupportedPlotFormatError: (a `ValueError`) for an extension that
            names no Graphviz output format.

    Example:

    ```python
    write_graph(model_to_dot(model, show_shapes=True), "model.svg")
    ```
    """
    path, extension = _output_format(_import_pydot("write_graph"), to_file)
    _write(dot, path, extension)
    return extension


def _output_format(pydot: ModuleType, to_file: str | os.PathLike[str]) -> tuple[str, str]:
    """The path and format of `to_file`, checked before any drawing (fail early, write nothing)."""
    path = os.fspath(to_file)
    extension = Path(path).suffix[1:].lower() or "png"
    if extension not in _TEXT_FORMATS:
        _check_format(pydot, path, extension, _require_graphviz(path, extension))
    return path, extension


def _write(dot: Any, path: str, extension: str) -> None:
    if extension in _TEXT_FORMATS:
        Path(path).write_text(dot.to_string(), encoding="utf-8")
    else:
        Path(path).write_bytes(dot.create(format=extension))


def _import_pydot(feature: str) -> ModuleType:
    try:
        return importlib.import_module("pydot")
    except ImportError as error:
        raise PydotNotFoundError(
            f"{feature} needs the Python package `pydot`, which could not be imported ({error}). "
            "Install it with `pip install pydot` (it is a kutils dependency, so `pip install kutils` "
            "brings it too). Rendering images also needs the Graphviz program: " + _GRAPHVIZ_INSTALL
        ) from error


def _check_format(pydot: ModuleType, path: str, extension: str, dot_program: str) -> None:
    known = (_graphviz_formats(dot_program) or frozenset(pydot.Dot().formats)) | set(_TEXT_FORMATS)
    if extension not in known:
        raise UnsupportedPlotFormatError(
            f"plot_model cannot write to_file={path!r}: the extension {extension!r} is not an output "
            f"format of the installed Graphviz ({dot_program}). Use one of: {', '.join(sorted(known))}."
        )


@functools.lru_cache(maxsize=8)
def _graphviz_formats(dot_program: str) -> frozenset[str]:
    """Asks Graphviz which output formats it was built with; empty if it does not say.

    `dot -T?` rejects the format `?` and lists the valid ones ("Use one of: ..."),
    which covers formats that pydot's fixed list lacks (eps, webp, json, ...).
    """
    try:
        answer = subprocess.run(
            [dot_program, "-T?"], input="", capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    _, found, listed = answer.stderr.partition("Use one of:")
    return frozenset(listed.split()) if found else frozenset()


def _require_graphviz(path: str, extension: str) -> str:
    """Returns the path of the Graphviz `dot` program, or raises GraphvizNotFoundError."""
    dot_program = shutil.which("dot")
    if dot_program is None:
        raise GraphvizNotFoundError(
            f"plot_model(to_file={path!r}) needs the Graphviz program `dot` to render {extension!r}, "
            f"but `dot` is not on PATH ({os.environ.get('PATH', '')!r}). " + _GRAPHVIZ_INSTALL
        )
    return dot_program


def _notebook_image(path: str, extension: str) -> Any:
    try:
        display = importlib.import_module("IPython.display")
    except ImportError:
        return None
    if extension == "svg":
        return display.SVG(filename=path)
    if extension in ("png", "jpg", "jpeg", "gif"):
        return display.Image(filename=path)
    return None


class _GraphDrawer:
    """Builds the pydot graph of one model and, with `expand_nested`, of its nested models."""

    def __init__(self, pydot: ModuleType, show_shapes: bool, show_names: bool, expand_nested: bool):
        self._pydot = pydot
        self._show_shapes = show_shapes
        self._show_names = show_names
        self._expand = expand_nested
        self._edges: set[tuple[str, str]] = set()

    def draw(self, model: Any, rankdir: str = "TB", dpi: int = 96, subgraph: bool = False) -> Any:
        if subgraph:
            dot = self._pydot.Cluster(style="dashed", graph_name=str(model.name))
            dot.set("label", str(model.name))
            dot.set("labeljust", "l")
        else:
            dot = self._pydot.Dot()
            dot.set("rankdir", rankdir)
            dot.set("concentrate", True)
            dot.set("dpi", dpi)
            dot.set_node_defaults(shape="record")
        graph = _introspect.graph_of(model)
        if graph is None:  # subclassed: no layer graph to draw
            dot.add_node(self._node(model))
            return dot
        operations = _introspect.graph_operations(graph)
        for operation in operations:
            self._add_operation(dot, operation)
        relevant = _introspect.relevant_node_ids(graph)
        for operation in operations:
            for input_index, source, _, tensor_index in _introspect.inbound_edges(operation, relevant):
                source = self._source(source, tensor_index)
                self._add_edge(dot, source, self._destination(operation, input_index))
        return dot

    def _add_operation(self, dot: Any, operation: Any) -> None:
        if self._expand and _introspect.is_graph_model(operation):
            dot.add_subgraph(self.draw(operation, subgraph=True))
            return
        dot.add_node(self._node(operation))
        inner: Any = getattr(operation, "layer", None)
        if self._expand and _introspect.is_wrapper(operation) and _introspect.is_graph_model(inner):
            dot.add_subgraph(self.draw(inner, subgraph=True))
            for input_index in range(len(inner.inputs)):
                self._add_edge(dot, operation, self._destination(inner, input_index))

    def _source(self, operation: Any, tensor_index: int) -> Any:
        """The drawn node that produced output `tensor_index` of `operation`."""
        while self._expand:
            model = operation
            if _introspect.is_wrapper(operation) and _introspect.is_graph_model(operation.layer):
                model = operation.layer
            elif not _introspect.is_graph_model(operation):
                break
            operation, _, tensor_index = model.outputs[tensor_index]._keras_history[:3]
        return operation

    def _destination(self, operation: Any, input_index: int) -> Any:
        """The drawn node that receives input `input_index` of `operation`."""
        while self._expand and _introspect.is_graph_model(operation):
            operation = operation.inputs[input_index]._keras_history[0]
            input_index = 0
        return operation

    def _add_edge(self, dot: Any, source: Any, destination: Any) -> None:
        key = (str(id(source)), str(id(destination)))
        if key not in self._edges:
            self._edges.add(key)
            dot.add_edge(self._pydot.Edge(*key))

    def _node(self, layer: Any) -> Any:
        name, class_name = str(layer.name), type(layer).__name__
        if _introspect.is_wrapper(layer) and not (self._expand and _introspect.is_graph_model(layer.layer)):
            name = f"{name}({layer.layer.name})"
            class_name = f"{class_name}({type(layer.layer).__name__})"
        shapes = None
        if self._show_shapes:
            shapes = (
                _shape_text(_introspect.input_shape(layer)),
                _shape_text(_introspect.output_shape(layer)),
            )
        label = node_label(name, class_name, show_layer_names=self._show_names, shapes=shapes)
        return self._pydot.Node(str(id(layer)), label=label)


def node_label(
    name: str, class_name: str, *, show_layer_names: bool = True, shapes: tuple[str, str] | None = None
) -> str:
    """The Graphviz record label of one layer, as `model_to_dot` draws it.

    Args:
        name: The layer name.
        class_name: The layer class name.
        show_layer_names: `name: ClassName` (True) or `ClassName` alone.
        shapes: `(input shape text, output shape text)` to show, or None.

    Returns:
        The label text, with record specials in names escaped.

    Example:

    >>> node_label("d", "Dense", shapes=("(None, 4)", "(None, 2)"))
    'd: Dense\\n|{input:|output:}|{{(None, 4)}|{(None, 2)}}'
    """
    label = _escape(f"{name}: {class_name}" if show_layer_names else class_name)
    if shapes is not None:
        label = f"{label}\n|{{input:|output:}}|{{{{{shapes[0]}}}|{{{shapes[1]}}}}}"
    return label


def _shape_text(shape: Any) -> str:
    return "multiple" if shape is None else str(shape)  # tuples of ints: nothing to escape


def _escape(text: str) -> str:
    """Escapes the characters that Graphviz record labels treat as structure."""
    return text.translate(_RECORD_SPECIALS)
