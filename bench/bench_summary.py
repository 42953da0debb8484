"""Benchmark of kutils print_summary / model_to_dot against Keras 3 on a ~180-layer ResNet50.

    .venv/bin/python bench/bench_summary.py

What it shows: the time to build the text summary of `keras.applications.ResNet50(weights=None)`
(kutils `print_summary` vs Keras 3 `model.summary`, both with a `print_fn` that captures the text)
and the pydot graph (kutils `model_to_dot` vs `keras.utils.model_to_dot`), measured in the same
process. Target: kutils is not slower (ratio kutils / Keras 3 <= 1).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import best_time, print_table

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

REPEAT = 5


def main() -> None:
    """Times each operation with kutils and with Keras 3 on ResNet50; prints a table with ratios."""
    import keras

    from kutils import model_to_dot, print_summary

    model = keras.applications.ResNet50(weights=None)
    captured: list[str] = []

    cases = [
        (
            "summary (print_fn captures the text)",
            lambda: print_summary(model, print_fn=captured.append),
            lambda: model.summary(print_fn=captured.append),
        ),
        ("model_to_dot", lambda: model_to_dot(model), lambda: keras.utils.model_to_dot(model)),
        (
            "model_to_dot(show_shapes=True)",
            lambda: model_to_dot(model, show_shapes=True),
            lambda: keras.utils.model_to_dot(model, show_shapes=True),
        ),
    ]
    rows = []
    for name, ours, theirs in cases:
        ours(), theirs()  # warm up: imports and caches
        kutils_s = best_time(ours, repeat=REPEAT)
        keras_s = best_time(theirs, repeat=REPEAT)
        rows.append([name, f"{kutils_s * 1e3:.1f}", f"{keras_s * 1e3:.1f}", kutils_s / keras_s])
    print_table(
        f"ResNet50(weights=None): {len(model.layers)} layers; best of {REPEAT} (target: ratio <= 1)",
        ["operation", "kutils ms", "Keras 3 ms", "kutils / Keras 3"],
        rows,
    )


if __name__ == "__main__":
    main()
