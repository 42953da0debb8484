"""Small real Keras 3 models shared by the summary, plotting and layer_ops tests.

Layer names are fixed so that the golden summaries (tests/golden/summary_*.txt)
do not depend on Keras' automatic name counters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

GOLDEN = Path(__file__).parent / "golden"


def keras_module() -> Any:
    from kutils._keras import import_keras

    return import_keras("the kutils summary tests")


def sequential() -> Any:
    """Input(16) -> Dense(32) -> BatchNormalization -> Dropout -> Dense(10)."""
    keras = keras_module()
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((16,), name="seq_input"),
            layers.Dense(32, name="dense_1"),
            layers.BatchNormalization(name="bn"),
            layers.Dropout(0.5, name="dropout_1"),
            layers.Dense(10, activation="softmax", name="dense_2"),
        ],
        name="sequential_model",
    )


def functional_chain() -> Any:
    """inp(8) -> hidden Dense(4) -> out Dense(1): a graph where each layer feeds the next."""
    keras = keras_module()
    inp = keras.Input((8,), name="inp")
    hidden = keras.layers.Dense(4, name="hidden")(inp)
    return keras.Model(inp, keras.layers.Dense(1, name="out")(hidden), name="chain")


def multi_io() -> Any:
    """Two inputs through one shared Dense, concatenated, with two output heads."""
    keras = keras_module()
    a = keras.Input((8,), name="input_a")
    b = keras.Input((8,), name="input_b")
    shared = keras.layers.Dense(4, name="shared_dense")
    merged = keras.layers.Concatenate(name="cat")([shared(a), shared(b)])
    main = keras.layers.Dense(1, name="out_main")(merged)
    aux = keras.layers.Dense(2, name="out_aux")(merged)
    return keras.Model([a, b], [main, aux], name="multi_io")


def multiple_shapes() -> Any:
    """A Dense shared on inputs of different ranks (`multiple`) and a two-output Lambda."""
    keras = keras_module()
    p = keras.Input((3,), name="p")
    q = keras.Input((5, 3), name="q")
    w = keras.Input((6,), name="w")
    proj = keras.layers.Dense(4, name="proj")
    split = keras.layers.Lambda(lambda t: [t[:, :3], t[:, 3:]], name="split")(w)
    return keras.Model([p, q, w], [proj(p), proj(q), *split], name="multiple_shapes")


def nested() -> Any:
    """x(8) -> encoder (a functional model: inner_in -> inner_dense Dense(4)) -> head Dense(1)."""
    keras = keras_module()
    inner_in = keras.Input((8,), name="inner_in")
    encoder = keras.Model(inner_in, keras.layers.Dense(4, name="inner_dense")(inner_in), name="encoder")
    x = keras.Input((8,), name="x")
    return keras.Model(x, keras.layers.Dense(1, name="head")(encoder(x)), name="outer")


def subclassed(built: bool = True) -> Any:
    """A subclassed model with two Dense layers, built on (None, 5) by a call if `built`."""
    keras = keras_module()

    class TwoDense(keras.Model):
        def __init__(self) -> None:
            super().__init__(name="two_dense")
            self.first = keras.layers.Dense(4, name="first")
            self.second = keras.layers.Dense(2, name="second")

        def call(self, inputs: Any) -> Any:
            return self.second(self.first(inputs))

    model = TwoDense()
    if built:
        model(np.ones((1, 5), "float32"))
    return model


def golden(name: str) -> str:
    return (GOLDEN / f"summary_{name}.txt").read_text()
