"""multi_gpu_model and distributed_fit overhead on 2 logical CPU devices.

    python bench/bench_multi_gpu.py

Logical devices must be set before TensorFlow initialises, so `main()` runs
the measurement in a fresh interpreter (`--child`). One CPU split in two gives
no speed-up: the ratios show the overhead of splitting, placing and merging
(parallel / template; target: predict <= 1.5x, one fit epoch <= 2x). The real
speed-up needs GPUs: see bench/gpu_multi_gpu.py, which reuses `measure()`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import best_time, print_table

SAMPLES, FEATURES, CLASSES, BATCH = 8192, 256, 10, 512


def _model(keras: Any) -> Any:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(1024, activation="relu"),
            keras.layers.Dense(1024, activation="relu"),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )


def _epoch_time(fit: Callable[[], object]) -> float:
    fit()  # first epoch traces the step function
    started = time.perf_counter()
    fit()
    return time.perf_counter() - started


def measure(devices: Sequence[str], title: str) -> None:
    """Times template vs multi_gpu_model predict and fit, and distributed_fit, on `devices`."""
    import keras
    import numpy as np
    import tensorflow as tf

    from kutils import distributed_fit, multi_gpu_model

    rng = np.random.default_rng(0)
    x = rng.standard_normal((SAMPLES, FEATURES)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(CLASSES, size=SAMPLES), CLASSES)

    template = _model(keras)
    parallel = multi_gpu_model(template, devices=list(devices))
    for model in (template, parallel):
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        model.predict(x[:BATCH], batch_size=BATCH, verbose=0)

    def predict(model: Any) -> Callable[[], object]:
        return lambda: model.predict(x, batch_size=BATCH, verbose=0)

    def fit(model: Any) -> Callable[[], object]:
        return lambda: model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)

    strategy = tf.distribute.MirroredStrategy(list(devices))
    with strategy.scope():
        mirrored = _model(keras)
        mirrored.compile(optimizer="sgd", loss="categorical_crossentropy")

    predict_template, predict_parallel = best_time(predict(template), 3), best_time(predict(parallel), 3)
    fit_template, fit_parallel = _epoch_time(fit(template)), _epoch_time(fit(parallel))
    fit_mirrored = _epoch_time(fit(mirrored))
    fit_distributed = _epoch_time(
        lambda: distributed_fit(mirrored, x, y, strategy=strategy, batch_size=BATCH, verbose=0)
    )
    rows = [
        ("predict", "template", predict_template, 1.0),
        ("predict", "multi_gpu_model", predict_parallel, predict_parallel / predict_template),
        ("fit 1 epoch", "template", fit_template, 1.0),
        ("fit 1 epoch", "multi_gpu_model", fit_parallel, fit_parallel / fit_template),
        ("fit 1 epoch", "MirroredStrategy + model.fit", fit_mirrored, fit_mirrored / fit_template),
        (
            "fit 1 epoch",
            "MirroredStrategy + distributed_fit",
            fit_distributed,
            fit_distributed / fit_template,
        ),
    ]
    print_table(
        f"{title}: {SAMPLES} x {FEATURES} -> 1024 -> 1024 -> {CLASSES}, batch {BATCH}, "
        f"devices {list(devices)}",
        ["operation", "model", "seconds", "ratio to template"],
        rows,
    )


def _child() -> None:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    measure(["/cpu:0", "/cpu:1"], "2 logical CPU devices (overhead only, no speed-up expected)")


def main() -> None:
    """Runs the measurement in a fresh interpreter with 2 logical CPU devices."""
    subprocess.run([sys.executable, __file__, "--child"], check=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        _child()
    else:
        main()
