"""Reading the structure of a built Keras model: layers, nodes, connections, shapes.

Shared by `print_summary`, `plot_model` / `model_to_dot` and `multi_gpu_model`.
Everything here is duck-typed on the attributes that Keras 3 and tf_keras
models share (`_inbound_nodes`, `_nodes_by_depth`, `_keras_history`, `inputs`,
`outputs`, `layers`), so nothing imports Keras and tf_keras models take the
same path as Keras 3 ones.

Keras 3 layers have no `output_shape` / `input_shape` attributes, so shapes
are read from the tensors recorded on each layer's inbound nodes, with the
Keras 2.2.4 rule: one shape if every call of the layer produced the same
shapes, otherwise no single shape (shown as `multiple`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from .errors import ModelNotBuiltError

__all__ = [
    "ModelNotBuiltError",
    "ensure_built",
    "graph_of",
    "graph_operations",
    "inbound_connections",
    "inbound_edges",
    "input_shape",
    "is_graph_model",
    "is_sequential_like",
    "is_wrapper",
    "node_inputs",
    "node_outputs",
    "output_shape",
    "relevant_node_ids",
    "sublayers",
    "summary_layers",
]

Shape = tuple[int | None, ...]
# A layer's shape as Keras 2.2.4 reported it: one tuple, or a list of tuples
# for several tensors; None when it is not defined (printed as `multiple`).
LayerShape = Shape | list[Shape] | None


def ensure_built(model: Any, feature: str) -> None:
    """Checks that `model` is a built Keras model.

    Raises:
        TypeError: If `model` is not a Keras model.
        ModelNotBuiltError: If it is not built yet; the message says how to build it.
    """
    # Looked up on the class: `trainable_weights` is a property that walks every layer.
    if not (hasattr(model, "_inbound_nodes") and hasattr(type(model), "trainable_weights")):
        raise TypeError(
            f"{feature} expects a Keras model (Sequential, functional or subclassed); got "
            f"{type(model).__name__}: {model!r:.80}"
        )
    if getattr(model, "built", True):
        return
    raise ModelNotBuiltError(
        f"{feature} got model {getattr(model, 'name', model)!r} ({type(model).__name__}), which has not "
        "been built yet, so its layers have no shapes or weights. Build it first: start a Sequential "
        "with `keras.Input(shape=...)`, call `model.build(input_shape)` (e.g. "
        "`model.build((None, 32))`), or call the model once on a batch of data (`model(x)` or "
        "`model.fit(...)`)."
    )


def is_graph_model(layer: Any) -> bool:
    """Tells whether `layer` is a model with a layer graph (Functional, or Sequential)."""
    if graph_of(layer) is None:
        return False
    return bool(getattr(layer, "built", True))


def graph_of(model: Any) -> Any | None:
    """Returns the object holding the node graph of `model`, or None for a subclassed model.

    A Keras 3 Sequential keeps its graph in a private Functional; Keras 3
    Functional and tf_keras graph networks are their own graph.
    """
    if not hasattr(model, "_inbound_nodes"):
        return None
    inner = getattr(model, "_functional", None)
    if inner is not None and hasattr(inner, "_nodes_by_depth"):
        return inner
    if hasattr(model, "_nodes_by_depth") and getattr(model, "_is_graph_network", True):
        return model
    return None


def graph_operations(graph: Any) -> list[Any]:
    """Returns every operation of a graph in topological order, input layers included.

    Keras 3 graphs list bare operations (e.g. `keras.ops.add` applied to
    symbolic tensors) besides layers; they are part of the graph, so they are
    listed too, like Keras 3's own summary does.
    """
    operations = getattr(graph, "_operations", None)
    if operations is not None:
        return list(operations)
    layers = list(graph.layers)  # tf_keras: a Sequential's `layers` omits its input layer
    missing = [layer for layer in getattr(graph, "_input_layers", []) if layer not in layers]
    return missing + layers


def summary_layers(model: Any) -> list[Any]:
    """Returns the rows of a summary: the layers as Keras 2.2.4 listed them.

    A Sequential omits its automatic input layer; a functional model lists its
    input layers and every operation; a subclassed model lists its tracked layers.
    """
    if type(model).__name__ == "Sequential" or not hasattr(model, "_nodes_by_depth"):
        return list(getattr(model, "layers", []))
    return graph_operations(model)


def sublayers(layer: Any) -> list[Any]:
    """Returns the layers nested inside `layer` (a model), or an empty list."""
    if not hasattr(layer, "_inbound_nodes"):
        return []
    return summary_layers(layer) if getattr(layer, "layers", None) else []


def is_wrapper(layer: Any) -> bool:
    """Tells whether `layer` wraps another layer (`TimeDistributed` and other `Wrapper`s)."""
    wrapped = getattr(layer, "layer", None)
    return wrapped is not None and any(cls.__name__ == "Wrapper" for cls in type(layer).__mro__)


def relevant_node_ids(graph: Any) -> set[int]:
    """Returns the ids of the nodes that belong to `graph` (a layer may have others elsewhere)."""
    return {id(node) for nodes in graph._nodes_by_depth.values() for node in nodes}


def node_inputs(node: Any) -> list[Any]:
    """Returns the symbolic input tensors of a node, flat."""
    tensors = getattr(node, "keras_inputs", None)  # tf_keras
    if tensors is None:
        tensors = node.input_tensors  # Keras 3
    return list(tensors)


def node_outputs(node: Any) -> list[Any]:
    """Returns the output tensors of a node, flat."""
    tensors = getattr(node, "output_tensors", None)
    if tensors is None:
        tensors = node.outputs
    if isinstance(tensors, list) and not any(isinstance(t, list | tuple | dict) for t in tensors):
        return list(tensors)  # Keras 3: already flat
    return list(_flatten(tensors))  # tf_keras: may be one tensor or a nested structure


def _flatten(structure: Any) -> Iterator[Any]:
    if isinstance(structure, dict):
        for key in sorted(structure):
            yield from _flatten(structure[key])
    elif isinstance(structure, list | tuple):
        for item in structure:
            yield from _flatten(item)
    else:
        yield structure


def inbound_edges(layer: Any, relevant: set[int] | None) -> Iterator[tuple[int, Any, int, int]]:
    """Yields `(input_index, source_operation, node_index, tensor_index)` for each input of `layer`.

    Only nodes whose id is in `relevant` are read (all nodes if `relevant` is
    None). Graph entry tensors without a producing operation are skipped.
    """
    for node in layer._inbound_nodes:
        if relevant is not None and id(node) not in relevant:
            continue
        for input_index, tensor in enumerate(node_inputs(node)):
            history = getattr(tensor, "_keras_history", None)
            if history is None or history[0] is None:
                continue
            source, node_index, tensor_index = history[0], history[1], history[2]
            yield input_index, source, node_index, tensor_index


def inbound_connections(layer: Any, relevant: set[int] | None) -> list[str]:
    """Returns the "Connected to" entries of `layer`: `name[node_index][tensor_index]` per input.

    An empty `relevant` set means "no filter", as in Keras 2.2.4.
    """
    return [
        f"{source.name}[{node_index}][{tensor_index}]"
        for _, source, node_index, tensor_index in inbound_edges(layer, relevant or None)
    ]


def _shape_of(tensor: Any) -> Shape | None:
    shape = getattr(tensor, "shape", None)
    if shape is None:
        return None
    if type(shape) is tuple:
        return shape  # Keras 3 standardizes shapes to tuples of int and None
    if hasattr(shape, "as_list"):  # tf.TensorShape (tf_keras)
        try:
            shape = shape.as_list()
        except ValueError:  # unknown rank
            return None
    return tuple(None if dim is None else int(dim) for dim in shape)


def _common_shape(per_node: list[list[Shape | None]]) -> LayerShape:
    if not per_node or per_node.count(per_node[0]) != len(per_node):
        return None
    shapes = per_node[0]
    if not shapes or None in shapes:
        return None
    known = cast(list[Shape], shapes)
    return known[0] if len(known) == 1 else known


def output_shape(layer: Any) -> LayerShape:
    """Returns the output shape of `layer` as Keras 2.2.4's `layer.output_shape` did.

    One tuple for one output tensor, a list of tuples for several, and None
    (Keras 2.2.4's `multiple`) if the layer was never called symbolically or
    its calls produced different shapes.
    """
    nodes = getattr(layer, "_inbound_nodes", [])
    return _common_shape([[_shape_of(t) for t in node_outputs(node)] for node in nodes])


def input_shape(layer: Any) -> LayerShape:
    """Returns the input shape of `layer` as Keras 2.2.4's `layer.input_shape` did.

    An input layer's input shape is its output shape. None means `multiple`.
    """
    per_node = []
    for node in getattr(layer, "_inbound_nodes", []):
        inputs = node_inputs(node)
        tensors = node_outputs(node) if not inputs or getattr(node, "is_input", False) else inputs
        per_node.append([_shape_of(t) for t in tensors])
    return _common_shape(per_node)


def is_sequential_like(model: Any) -> bool:
    """Applies the Keras 2.2.4 test that picks the 3-column summary layout.

    True for a Sequential or a subclassed model, and for a graph model whose
    every depth holds one node with at most one input tensor and where no layer
    is called twice inside the model.
    """
    if type(model).__name__ == "Sequential" or not hasattr(model, "_nodes_by_depth"):
        return True
    model_nodes: set[int] = set()
    for nodes in model._nodes_by_depth.values():
        if len(nodes) > 1 or (len(nodes) == 1 and len(node_inputs(nodes[0])) > 1):
            return False
        model_nodes.update(id(node) for node in nodes)
    for layer in graph_operations(model):
        calls_in_model = sum(id(node) in model_nodes for node in layer._inbound_nodes)
        if calls_in_model > 1:
            return False
    return True
