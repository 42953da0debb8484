"""`kutils summary MODEL` and `kutils plot MODEL -o FILE`: look into a saved model from the shell.

A model file is loaded with the active Keras (Keras 3, or tf_keras with
`TF_USE_LEGACY_KERAS=1`) without compiling it. When Keras cannot load it, or
loading it would run code stored in the file (Lambda layers) and `--unsafe`
was not given, kutils reads the file itself (`kutils._stored_model`), says so
on stderr, and still prints the layers, classes, recorded shapes, parameter
counts from the stored weights and the connections.

Code only runs where the user asks: `--custom-objects` imports the named
module or file, `--unsafe` lets Keras deserialize Lambda code (Keras'
`safe_mode=False`, https://keras.io/api/models/model_saving_apis/model_saving_and_loading/).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import sys
import traceback
import warnings
from dataclasses import dataclass
from typing import Any

from ._stored_model import StoredLayer, StoredModel, read_stored_model

__all__ = ["LoadedModel", "load_model_file", "register"]

_RANKDIRS = ("TB", "LR", "BT", "RL")
_CODE_LAYERS = ("Lambda",)


@dataclass
class LoadedModel:
    """A model file as the CLI sees it.

    Attributes:
        path: The file.
        model: The Keras model, or None when the file was read by kutils.
        stored: The file's own description, when Keras did not load it.
        reason: Why Keras did not load it ("" when it did).
        error: The exception Keras raised, if it was tried and failed.
    """

    path: str
    model: Any = None
    stored: StoredModel | None = None
    reason: str = ""
    error: BaseException | None = None


def register(commands: Any) -> None:
    """Adds `kutils summary` and `kutils plot` to the command line's sub-commands.

    Args:
        commands: The `argparse` sub-parsers action of the `kutils` parser.
    """
    summary = commands.add_parser(
        "summary",
        help="print the Keras 2.2.4 summary table of a saved model (.keras, .h5)",
        description=(
            "Prints the Keras 2.2.4 summary table of a saved model. Files today's Keras cannot load "
            "(old Keras 2 .h5, missing custom classes) are read by kutils itself."
        ),
        epilog="Example: kutils summary model.h5 --line-length 120 --custom-objects my_layers.py",
    )
    _add_model_arguments(summary)
    summary.add_argument("--line-length", type=int, metavar="N", help="total width of the table")
    summary.add_argument(
        "--positions",
        type=_positions,
        metavar="P1,P2,...",
        help="where each column ends, relative (<= 1) or absolute, comma-separated",
    )
    summary.add_argument("--expand-nested", action="store_true", help="also list the layers of nested models")
    summary.add_argument("--json", action="store_true", help="print the summary fields as JSON instead")
    summary.set_defaults(handler=_summary_command)

    plot = commands.add_parser(
        "plot",
        help="draw a saved model to an image (png, svg, pdf, dot, ...)",
        description="Draws a saved model as plot_model does; the format comes from the output's extension.",
        epilog="Example: kutils plot model.keras -o model.svg --show-shapes --rankdir LR",
    )
    _add_model_arguments(plot)
    plot.add_argument("-o", "--output", required=True, metavar="FILE", help="the image to write")
    plot.add_argument("--show-shapes", action="store_true", help="show input and output shapes")
    plot.add_argument("--no-layer-names", action="store_true", help="show class names only")
    plot.add_argument("--rankdir", choices=_RANKDIRS, default="TB", help="graph direction (default TB)")
    plot.add_argument("--expand-nested", action="store_true", help="draw nested models as clusters")
    plot.add_argument("--dpi", type=int, default=96, help="image resolution (default 96)")
    plot.set_defaults(handler=_plot_command)


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a saved model: .keras or .h5")
    parser.add_argument(
        "--custom-objects",
        metavar="MODULE_OR_FILE",
        action="append",
        help="import this module (or .py file) and pass its public classes and functions to Keras "
        "(runs its code; repeatable)",
    )
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="let Keras run Lambda code stored in the file (Keras' safe_mode=False)",
    )


def _positions(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None


def load_model_file(path: str, custom_objects: list[str] | None = None, unsafe: bool = False) -> LoadedModel:
    """Loads a model file with the active Keras, or reads it without Keras when that fails.

    Args:
        path: A `.keras` or `.h5` model file.
        custom_objects: Modules or `.py` files whose public classes and
            functions are passed to Keras as custom objects.
        unsafe: Let Keras deserialize Lambda code from the file.

    Returns:
        A `LoadedModel`: with `model` set when Keras loaded the file, else
        with `stored` and the `reason`.

    Raises:
        FileNotFoundError: If `path` does not exist.
        StoredModelError: (a `ValueError`) if Keras cannot load the file and
            it holds no model configuration either.
        ImportError: If a `custom_objects` module cannot be imported.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MODEL {path!r} does not exist or is not a file.")
    objects: dict[str, Any] = {}
    for source in custom_objects or ():
        objects.update(_custom_objects_from(source))
    stored: StoredModel | None = None
    if not unsafe:
        code_layers = _code_layers_in(path)
        if code_layers:
            reason = (
                f"it has layers with Python code stored in the file ({', '.join(code_layers)}), which "
                "Keras would run; pass --unsafe to allow that"
            )
            return LoadedModel(path, stored=read_stored_model(path), reason=reason)
    try:
        model = _keras_load(path, objects, unsafe)
    except Exception as error:  # any failure of Keras to load: read the file ourselves
        stored = read_stored_model(path)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        which = _keras_name()
        reason = f"{which} failed with {type(error).__name__}: {first_line}"
        return LoadedModel(path, stored=stored, reason=reason, error=error)
    return LoadedModel(path, model=model)


def _custom_objects_from(source: str) -> dict[str, Any]:
    if source.endswith(".py") or os.path.sep in source:
        if not os.path.isfile(source):
            raise FileNotFoundError(f"--custom-objects {source!r}: no such file.")
        name = "kutils_custom_objects_" + os.path.splitext(os.path.basename(source))[0]
        spec = importlib.util.spec_from_file_location(name, source)
        if spec is None or spec.loader is None:
            raise ImportError(f"--custom-objects {source!r} cannot be imported as a Python file.")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(source)
    print(f"kutils: imported --custom-objects {source!r} (its code ran)", file=sys.stderr)
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and callable(value)
        and getattr(value, "__module__", None) == module.__name__
    }


def _code_layers_in(path: str) -> list[str]:
    """Names of the layers that hold Python code (Lambda), read from the file without Keras."""
    try:
        stored = read_stored_model(path)
    except (ValueError, OSError):
        return []  # not readable here: Keras' own safe_mode still applies
    return [
        f"{layer.name} ({layer.class_name})" for layer, _ in stored.walk() if layer.class_name in _CODE_LAYERS
    ]


def _keras_load(path: str, objects: dict[str, Any], unsafe: bool) -> Any:
    from . import get_custom_objects
    from ._keras import import_keras

    keras = import_keras("kutils summary/plot")
    objects = {**get_custom_objects(), **objects}
    with warnings.catch_warnings():  # Keras' advice on legacy formats is noise for a look at a file
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return keras.models.load_model(path, custom_objects=objects, compile=False, safe_mode=not unsafe)


def _keras_name() -> str:
    from ._keras import import_keras

    keras = import_keras()
    return f"{keras.__name__} {getattr(keras, '__version__', '')}".strip()


def _announce_fallback(loaded: LoadedModel, debug: bool) -> None:
    from ._keras import import_keras
    from ._stored_shapes import infer_output_shapes

    assert loaded.stored is not None
    if debug and loaded.error is not None:
        traceback.print_exception(loaded.error, file=sys.stderr)
    with contextlib.suppress(ImportError):  # no Keras at all: the shapes the file records are all there is
        infer_output_shapes(loaded.stored, import_keras())
    written_by = f" (written by Keras {loaded.stored.keras_version})" if loaded.stored.keras_version else ""
    print(
        f"kutils: {loaded.path!r}{written_by} was not loaded with Keras: {loaded.reason}.\n"
        "kutils: read the model from the file itself: layers, classes, parameter counts and connections "
        "are from the file; output shapes from each layer's stored configuration ('?' where Keras cannot "
        "rebuild that layer alone).",
        file=sys.stderr,
    )


def _summary_command(args: argparse.Namespace) -> int:
    from .summary import print_summary, summary_from_rows

    loaded = load_model_file(args.model, args.custom_objects, args.unsafe)
    print_fn = (lambda line: None) if args.json else print
    options = {"line_length": args.line_length, "positions": args.positions, "print_fn": print_fn}
    if loaded.model is not None:
        summary = print_summary(loaded.model, expand_nested=args.expand_nested, **options)
        source = "keras"
    else:
        assert loaded.stored is not None
        _announce_fallback(loaded, args.debug)
        stored = loaded.stored
        rows = _stored_rows(stored, args.expand_nested)
        non_trainable = sum(
            sum(_size(shape) for shape in layer.non_trainable_shapes) for layer in stored.layers
        )
        total = sum(layer.param_count for layer in stored.layers)
        summary = summary_from_rows(
            stored.name,
            rows,
            trainable_params=total - non_trainable,
            non_trainable_params=non_trainable,
            param_bytes=stored.param_dtypes,
            sequential_like=_stored_sequential_like(stored),
            **options,
        )
        source = "file"
    if args.json:
        report = {"source": source, "reason": loaded.reason, **summary.to_dict()}
        print(json.dumps(report, indent=2))
    return 0


def _plot_command(args: argparse.Namespace) -> int:
    from .plotting import model_to_dot, write_graph

    loaded = load_model_file(args.model, args.custom_objects, args.unsafe)
    show_names = not args.no_layer_names
    if loaded.model is not None:
        dot = model_to_dot(
            loaded.model, args.show_shapes, show_names, args.rankdir, args.expand_nested, args.dpi
        )
    else:
        assert loaded.stored is not None
        _announce_fallback(loaded, args.debug)
        dot = _stored_dot(
            loaded.stored, args.show_shapes, show_names, args.rankdir, args.expand_nested, args.dpi
        )
    write_graph(dot, args.output)
    print(args.output)
    return 0


def _size(shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


def _shape_text(layer: StoredLayer) -> str:
    return "?" if layer.output_shape is None else str(layer.output_shape)


def _stored_rows(stored: StoredModel, expand_nested: bool) -> list[Any]:
    from .summary import SummaryRow

    sequential_like = _stored_sequential_like(stored)
    rows = []
    for layer, depth in stored.walk():
        if depth and not expand_nested:
            continue
        connections: tuple[str, ...] = ()
        if not sequential_like:
            connections = tuple(
                f"{name}[{node}][{tensor}]"
                for node_inputs in layer.inbound
                for name, node, tensor in node_inputs
            )
        rows.append(
            SummaryRow(
                name=layer.name,
                class_name=layer.class_name,
                output_shape=_shape_text(layer),
                param_count=layer.param_count,
                connections=connections,
                depth=depth,
            )
        )
    return rows


def _stored_sequential_like(stored: StoredModel) -> bool:
    """Keras 2.2.4's layout rule on a stored graph: a chain where each layer feeds the next only."""
    if stored.is_sequential:
        return True
    consumers: dict[str, int] = {}
    for layer in stored.layers:
        if len(layer.inbound) > 1 or any(len(node) > 1 for node in layer.inbound):
            return False
        for node in layer.inbound:
            for name, _, _ in node:
                consumers[name] = consumers.get(name, 0) + 1
    return all(count <= 1 for count in consumers.values())


def _stored_dot(
    stored: StoredModel, show_shapes: bool, show_names: bool, rankdir: str, expand_nested: bool, dpi: int
) -> Any:
    from .plotting import _import_pydot, node_label

    if rankdir not in _RANKDIRS:
        raise ValueError(f"rankdir={rankdir!r} is not a Graphviz direction; expected one of {_RANKDIRS}.")
    pydot = _import_pydot("kutils plot")
    dot = pydot.Dot()
    dot.set("rankdir", rankdir)
    dot.set("concentrate", True)
    dot.set("dpi", dpi)
    dot.set_node_defaults(shape="record")

    def add(container: Any, layers: list[StoredLayer], prefix: str) -> None:
        by_name = {layer.name: layer for layer in layers}
        for layer in layers:
            node_id = f"{prefix}{layer.name}"
            if expand_nested and layer.nested:
                cluster = pydot.Cluster(graph_name=node_id, style="dashed", label=layer.name)
                add(cluster, layer.nested, f"{node_id}/")
                container.add_subgraph(cluster)
            else:
                shapes = None
                if show_shapes:
                    producers = [by_name.get(name) for node in layer.inbound for name, _, _ in node]
                    inputs = ", ".join(_shape_text(p) if p is not None else "?" for p in producers) or "?"
                    shapes = (inputs, _shape_text(layer))
                label = node_label(layer.name, layer.class_name, show_layer_names=show_names, shapes=shapes)
                container.add_node(pydot.Node(_quote(node_id), label=label))
            for node in layer.inbound:
                for name, _, _ in node:
                    if name in by_name:
                        source = _entry_or_exit(by_name[name], prefix, expand_nested, last=True)
                        target = _entry_or_exit(layer, prefix, expand_nested, last=False)
                        container.add_edge(pydot.Edge(_quote(source), _quote(target)))

    add(dot, stored.layers, "")
    return dot


def _entry_or_exit(layer: StoredLayer, prefix: str, expand_nested: bool, *, last: bool) -> str:
    """The drawn node standing for `layer`: itself, or in an expanded nested model its first or last layer."""
    node_id = f"{prefix}{layer.name}"
    while expand_nested and layer.nested:
        inner = [item for item in layer.nested if item.class_name != "InputLayer"] or layer.nested
        layer = inner[-1] if last else inner[0]
        node_id = f"{node_id}/{layer.name}"
    return node_id


def _quote(node_id: str) -> str:
    return json.dumps(node_id)
