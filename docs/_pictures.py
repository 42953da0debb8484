"""Makes the documentation's pictures from real runs: model drawings and the benchmark chart.

    python docs/_pictures.py OUT_DIR

- `model_small.png`, `model_nested.png`: `kutils.plot_model` of a small functional model and of a
  model with a nested one (`expand_nested=True`), drawn by Graphviz;
- `bench_ratios.svg` (and `bench_ratios.json`, the figures): how many times faster kutils is than
  Keras 3 for `to_categorical` and `normalize`, timed here and now (best of 7 runs each, as in
  `bench/bench_foundation.py`).
"""

from __future__ import annotations

import html
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def _best(fn: Callable[[], object], repeat: int = 7) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def draw_models(out: Path) -> None:
    """Writes the two model drawings."""
    from kutils import plot_model
    from kutils._keras import import_keras

    keras = import_keras("the docs pictures")
    inputs = keras.Input((16,), name="features")
    left = keras.layers.Dense(8, activation="relu", name="left")(inputs)
    right = keras.layers.Dense(8, activation="relu", name="right")(inputs)
    merged = keras.layers.concatenate([left, right], name="merged")
    outputs = keras.layers.Dense(3, activation="softmax", name="classes")(merged)
    small = keras.Model(inputs, outputs, name="small")
    plot_model(small, to_file=str(out / "model_small.png"), show_shapes=True)

    encoder_in = keras.Input((16,), name="encoder_in")
    code = keras.layers.Dense(4, name="code")(keras.layers.Dense(8, name="hidden")(encoder_in))
    encoder = keras.Model(encoder_in, code, name="encoder")
    outer_in = keras.Input((16,), name="x")
    prediction = keras.layers.Dense(1, name="score")(encoder(outer_in))
    nested = keras.Model(outer_in, prediction, name="with_encoder")
    plot_model(nested, to_file=str(out / "model_nested.png"), show_shapes=True, expand_nested=True)


def measure() -> list[tuple[str, float]]:
    """Times kutils against Keras 3; returns (case, Keras 3 time / kutils time)."""
    import numpy as np

    from kutils import normalize, to_categorical
    from kutils._keras import import_keras

    keras = import_keras("the docs benchmark chart")
    rng = np.random.default_rng(0)
    ratios = []
    for n, classes in [(1_000_000, 10), (200_000, 100), (20_000, 1000)]:
        labels = rng.integers(0, classes, n)
        ours = _best(lambda labels=labels, classes=classes: to_categorical(labels, classes))
        theirs = _best(lambda labels=labels, classes=classes: keras.utils.to_categorical(labels, classes))
        ratios.append((f"to_categorical {n:,} x {classes}", theirs / ours))
    x = rng.standard_normal((1_000_000, 64)).astype(np.float32)
    ratios.append(
        ("normalize 1,000,000 x 64", _best(lambda: keras.utils.normalize(x)) / _best(lambda: normalize(x)))
    )
    return ratios


def bar_chart(ratios: list[tuple[str, float]], title: str) -> str:
    """A horizontal bar chart as SVG text, one bar per case, with a line at 1x."""
    width, label_width, bar_height, gap, top = 720, 260, 26, 12, 48
    scale = (width - label_width - 80) / max(max(value for _, value in ratios), 1.0)
    height = top + len(ratios) * (bar_height + gap) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="24" font-size="15" font-weight="bold">{html.escape(title)}</text>',
    ]
    for index, (label, value) in enumerate(ratios):
        y = top + index * (bar_height + gap)
        length = value * scale
        parts += [
            f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.0f}" text-anchor="end">'
            f"{html.escape(label)}</text>",
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="#3b6ea5"/>',
            f'<text x="{label_width + length + 6:.1f}" y="{y + bar_height * 0.7:.0f}">{value:.2f}x</text>',
        ]
    one = label_width + scale
    parts += [
        f'<line x1="{one:.1f}" y1="{top - 6}" x2="{one:.1f}" y2="{height - 18}" stroke="#c0392b" '
        'stroke-dasharray="4 3"/>',
        f'<text x="{one + 4:.1f}" y="{height - 6}" fill="#c0392b">1x (as fast as Keras 3)</text>',
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    draw_models(out)
    ratios = measure()
    (out / "bench_ratios.json").write_text(json.dumps(dict(ratios), indent=2) + "\n", encoding="utf-8")
    chart = bar_chart(ratios, "Keras 3 time / kutils time (higher: kutils faster), measured at build")
    (out / "bench_ratios.svg").write_text(chart, encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
