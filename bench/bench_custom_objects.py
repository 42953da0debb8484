"""Benchmark of kutils custom object scopes and deserialization against Keras 3, in the same process.

    .venv/bin/python bench/bench_custom_objects.py

What it shows: the cost of entering and leaving a kutils scope (the outermost one installs and
removes the Keras name hook) next to Keras 3's own `keras.saving.custom_object_scope`, the extra
cost of Keras name lookups while the hook is active, and `deserialize_keras_object` against
`keras.regularizers.deserialize`. No target: the numbers show the overhead is small next to the
work (building a layer, loading a model) that a scope surrounds.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import best_time, print_table

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

NUMBER = 2000


def main() -> None:
    """Measures each operation with kutils and with the Keras 3 baseline; prints a table with ratios."""
    import keras

    from kutils import CustomObjectScope, deserialize_keras_object, get_custom_objects

    def identity(x: object) -> object:
        return x

    names = {"identity": identity}
    l2_config = {"class_name": "L2", "config": {"l2": 0.5}}

    def kutils_scope() -> None:
        with CustomObjectScope(names):
            pass

    def keras_scope() -> None:
        with keras.saving.custom_object_scope(names):
            pass

    def kutils_register() -> None:
        table = get_custom_objects()
        table["identity"] = identity
        del table["identity"]

    def keras_register() -> None:
        table = keras.saving.get_custom_objects()
        table["identity"] = identity
        del table["identity"]

    def timed(fn: Callable[[], object], number: int, inside_kutils_scope: bool) -> float:
        """Best seconds per call of fn, run inside an (outer) kutils scope or outside any."""
        if inside_kutils_scope:
            with CustomObjectScope():
                return best_time(fn, repeat=5, number=number)
        return best_time(fn, repeat=5, number=number)

    # (operation, kutils call, baseline call, calls per timing, kutils inside a scope, baseline inside)
    cases = [
        ("scope enter+exit, outermost (installs the hook)", kutils_scope, keras_scope, NUMBER, False, False),
        ("scope enter+exit, nested in a kutils scope", kutils_scope, keras_scope, NUMBER, True, True),
        (
            "register + remove a global name, hooked (updates Keras' tables)",
            kutils_register,
            keras_register,
            NUMBER,
            True,
            False,
        ),
        (
            "keras.activations.get('relu'), hooked vs plain",
            lambda: keras.activations.get("relu"),
            lambda: keras.activations.get("relu"),
            NUMBER,
            True,
            False,
        ),
        (
            "Dense(4, kernel_regularizer='l2'), hooked vs plain",
            lambda: keras.layers.Dense(4, kernel_regularizer="l2"),
            lambda: keras.layers.Dense(4, kernel_regularizer="l2"),
            200,
            True,
            False,
        ),
        (
            "deserialize an L2 config vs keras.regularizers.deserialize",
            lambda: deserialize_keras_object(l2_config, module_objects={"L2": keras.regularizers.L2}),
            lambda: keras.regularizers.deserialize(l2_config),
            NUMBER,
            False,
            False,
        ),
    ]
    rows = []
    for label, ours, baseline, number, ours_inside, baseline_inside in cases:
        ours_seconds = timed(ours, number, ours_inside)
        baseline_seconds = timed(baseline, number, baseline_inside)
        rows.append([label, ours_seconds * 1e6, baseline_seconds * 1e6, ours_seconds / baseline_seconds])
    print_table(
        "Custom object scopes (microseconds per call, best of 5)",
        ["operation", "kutils (us)", "Keras 3 baseline (us)", "ratio"],
        rows,
    )


if __name__ == "__main__":
    main()
