"""The `kutils demo` tour: each utility run on small real data, saying what it did.

Every step is a function `(workdir, say) -> None`: `workdir` is a fresh
temporary folder, `say` prints one line of the tour.
"""

from __future__ import annotations

import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

__all__ = ["list_steps", "register", "run_tour"]

Say = Callable[[str], None]


def _tour_array_ops(workdir: Path, say: Say) -> None:
    from kutils import normalize, to_categorical

    labels = [0, 2, 1, 2]
    onehot = to_categorical(labels)
    say(f"to_categorical({labels}) -> shape {onehot.shape}, dtype {onehot.dtype}")
    say(f"  first row {onehot[0].tolist()}, last row {onehot[-1].tolist()}")
    x = np.array([[3.0, 4.0], [0.0, 0.0]], dtype="float32")
    rows = [[round(value, 4) for value in row] for row in normalize(x).tolist()]
    say(f"normalize({x.tolist()}) -> {rows} (zero rows stay zero)")
    try:
        to_categorical([0, -1, 2], num_classes=3)
    except ValueError as error:
        say(f"to_categorical([0, -1, 2], num_classes=3) -> ValueError: {error}")


def _tour_progbar(workdir: Path, say: Say) -> None:
    import io

    from kutils import Progbar

    log = io.StringIO()  # not a terminal: plain lines, no control characters
    bar = Progbar(8, width=20, file=log)
    for step in range(1, 9):
        bar.update(step, [("loss", 1.0 / step)])
    say("Progbar(8, width=20) updated 8 times, writing to a log (not a terminal):")
    for line in log.getvalue().splitlines():
        say(f"  {line}")
    log = io.StringIO()
    bar = Progbar(8, verbose=2, file=log)
    bar.add(8, [("loss", 0.25)])
    say(f"verbose=2 writes one line at the end: {log.getvalue().rstrip()!r}")


def _tour_custom_objects(workdir: Path, say: Say) -> None:
    from kutils import CustomObjectScope, get_custom_objects
    from kutils._keras import import_keras, import_tensorflow

    keras = import_keras("the custom_objects tour")
    tf = import_tensorflow("the custom_objects tour")  # tf ops run on both Keras lines (TF backend)
    regularizer_base: Any = keras.regularizers.Regularizer

    class MyObject(regularizer_base):  # type: ignore[misc]  # the active Keras line's Regularizer
        """An L1 penalty with a configurable scale."""

        def __init__(self, scale: float = 0.01) -> None:
            self.scale = scale

        def __call__(self, x: Any) -> Any:
            return self.scale * tf.reduce_sum(tf.abs(x))

        def get_config(self) -> dict[str, float]:
            return {"scale": self.scale}

    def doubled_relu(x: Any) -> Any:
        return tf.nn.relu(x) * 2.0

    names = {"MyObject": MyObject, "doubled_relu": doubled_relu}
    x = np.arange(6, dtype="float32").reshape(2, 3) / 10
    with CustomObjectScope(names):
        say(f"inside CustomObjectScope: get_custom_objects() has {sorted(get_custom_objects())}")
        model = keras.Sequential(
            [
                keras.Input((3,)),
                keras.layers.Dense(2, kernel_regularizer="MyObject", activation="doubled_relu"),
            ]
        )
        dense = model.layers[-1]
        say(
            f"Dense(2, kernel_regularizer='MyObject', activation='doubled_relu') -> "
            f"{type(dense.kernel_regularizer).__name__}, {dense.activation.__name__}"
        )
        path = workdir / "my model.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        same = np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
        say(f"saved to {path.name!r} and loaded it back by name: same predictions: {same}")
    say(f"after the scope: get_custom_objects() = {get_custom_objects()}")
    try:
        keras.models.load_model(path)
    except (TypeError, ValueError) as error:
        say(f"loading outside the scope fails as in plain Keras: {type(error).__name__}")
    else:
        say("loading outside the scope worked too: Keras found the classes without the names")


def _tour_get_file(workdir: Path, say: Say) -> None:
    import contextlib
    import hashlib
    import io
    import tarfile

    from kutils import get_file
    from kutils.errors import HashMismatchError

    source = workdir / "source"
    (source / "dataset").mkdir(parents=True)
    for name, text in [("train.csv", "x,y\n1,2\n3,4\n"), ("test.csv", "x,y\n5,6\n")]:
        (source / "dataset" / name).write_text(text)
    archive = workdir / "dataset.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source / "dataset", arcname="dataset")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    origin, cache = archive.as_uri(), workdir / "cache"
    say(f"built {archive.name} ({archive.stat().st_size} bytes), sha256 {digest[:16]}..., origin {origin}")

    def fetch(**kwargs: Any) -> str:
        with contextlib.redirect_stdout(io.StringIO()):
            return get_file("dataset.tar.gz", origin, cache_dir=cache, extract=True, **kwargs)

    path = fetch(file_hash=digest)
    extracted = sorted(p.name for p in (cache / "datasets" / "dataset").iterdir())
    say(f"get_file(..., file_hash=sha256, extract=True) -> {path}")
    say(f"  extracted next to it (as Keras 2.2.4): datasets/dataset/ holds {extracted}")
    started = time.perf_counter()
    fetch(file_hash=digest)
    elapsed_ms = (time.perf_counter() - started) * 1e3
    say(f"second call (cache hit, hash remembered, no re-extraction): {elapsed_ms:.2f} ms")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            get_file("other.tar.gz", origin, cache_dir=cache, file_hash="0" * 64, retries=0)
    except HashMismatchError as error:
        cached = (cache / "datasets" / "other.tar.gz").exists()
        say(f"a wrong file_hash raises {type(error).__name__}; anything cached: {cached}")


def _tour_summary(workdir: Path, say: Say) -> None:
    from kutils import plot_model, print_summary
    from kutils._keras import import_keras

    keras = import_keras("the summary tour")
    a = keras.Input((8,), name="a")
    b = keras.Input((8,), name="b")
    shared = keras.layers.Dense(4, name="shared")
    merged = keras.layers.Concatenate(name="merge")([shared(a), shared(b)])
    model = keras.Model([a, b], keras.layers.Dense(1, name="score")(merged), name="siamese")
    say("print_summary of a two-input model with one shared layer (Keras 2.2.4 layout):")
    summary = print_summary(model, print_fn=say)
    say(f"returned {type(summary).__name__}: total_params={summary.total_params}, {summary.param_bytes}")
    path = workdir / "model.png"
    plot_model(model, to_file=path, show_shapes=True)
    say(f"plot_model wrote {path.name} ({path.stat().st_size:,} bytes, Graphviz PNG)")


# Logical CPU devices can only be set before TensorFlow starts, so this runs in a fresh interpreter.
_MULTI_GPU_TOUR_SCRIPT = """
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from kutils import multi_gpu_model

keras.utils.set_random_seed(0)
layers = [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
template = keras.Sequential(layers)
parallel = multi_gpu_model(template, devices=["/cpu:0", "/cpu:1"])
print(f"multi_gpu_model(template, devices=['/cpu:0', '/cpu:1']) -> {parallel.name}")
print("  each batch is split in 2, one replica per logical CPU, outputs merged on /cpu:0")
x = np.random.default_rng(0).standard_normal((64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
parallel.compile(optimizer="sgd", loss="mse")
before = template.get_weights()[0].copy()
loss = parallel.fit(x, y, batch_size=16, epochs=1, verbose=0).history["loss"][0]
moved = float(np.abs(template.get_weights()[0] - before).max())
print(f"parallel.fit: 1 epoch, loss {loss:.4f}; the template's kernel moved by {moved:.4f} (shared weights)")
diff = float(np.abs(parallel.predict(x, verbose=0) - template.predict(x, verbose=0)).max())
print(f"parallel.predict equals template.predict (max difference {diff:.1e})")
"""


def _tour_multi_gpu(workdir: Path, say: Say) -> None:
    import os
    import subprocess

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    completed = subprocess.run(
        [sys.executable, "-c", _MULTI_GPU_TOUR_SCRIPT], capture_output=True, text=True, timeout=300, env=env
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the multi_gpu_model tour script failed:\n{completed.stderr[-3000:]}")
    for line in completed.stdout.splitlines():
        say(line)


def _tour_hdf5(workdir: Path, say: Say) -> None:
    import h5py

    from kutils import ArraySequence, HDF5Matrix
    from kutils._keras import import_keras

    keras = import_keras("the HDF5 tour")
    path = workdir / "file.hdf5"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1000, 8)).astype("float32")
    with h5py.File(path, "w") as file:
        file.create_dataset("data", data=x, chunks=(100, 8))
        file.create_dataset("labels", data=x @ np.linspace(-1, 1, 8, dtype="float32")[:, None])
    say(f"wrote {path.name}: 'data' {x.shape} float32 (chunked), 'labels' (1000, 1)")
    x_data = HDF5Matrix(path, "data", start=100)
    say(f"HDF5Matrix({path.name!r}, 'data', start=100): len {len(x_data)}, shape {x_data.shape}")
    say(f"  x_data[[5, 0, 5]] (any order, repeats) -> shape {x_data[[5, 0, 5]].shape}")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    say(f"model.predict(x_data) (Keras 3 reads it into memory) -> {model.predict(x_data, verbose=0).shape}")
    sequence = ArraySequence(x_data, HDF5Matrix(path, "labels", start=100), batch_size=64, shuffle="batch")
    history = model.fit(sequence, epochs=3, verbose=0)
    losses = ", ".join(f"{loss:.3f}" for loss in history.history["loss"])
    say(f"fit(ArraySequence(x, y, batch_size=64, shuffle='batch')): {len(sequence)} batches, loss {losses}")
    streamed = model.predict(ArraySequence(x_data, batch_size=256), verbose=0)
    say(f"model.predict(ArraySequence(x_data, batch_size=256)) streams batches -> {streamed.shape}")
    x_data.close()


# Steps in tour order: (name, one-line summary, function).
_STEPS: list[tuple[str, str, Callable[[Path, Say], None]]] = [
    ("array_ops", "to_categorical and normalize", _tour_array_ops),
    ("progbar", "the Keras 2.2.4 progress bar", _tour_progbar),
    ("custom_objects", "custom names in a Keras model, saved and loaded", _tour_custom_objects),
    ("get_file", "download with a sha256 hash from a file:// origin, extract, cache hit", _tour_get_file),
    ("summary", "print_summary and plot_model on a functional model", _tour_summary),
    ("multi_gpu", "multi_gpu_model on 2 logical CPUs: fit, shared weights", _tour_multi_gpu),
    ("hdf5", "HDF5Matrix and ArraySequence: predict and fit from an HDF5 file", _tour_hdf5),
]


def list_steps() -> list[tuple[str, str]]:
    """Returns `(name, summary)` for each tour step, in tour order."""
    return [(name, summary) for name, summary, _ in _STEPS]


def run_tour(only: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Runs the tour steps and prints what each did.

    Args:
        only: Names of the steps to run; all steps if None.
        out: Where to print; standard output if None.

    Returns:
        0 if every step ran, 1 if any step failed (its traceback is printed).

    Raises:
        ValueError: If `only` names a step that does not exist.
    """
    stream = out if out is not None else sys.stdout
    known = [name for name, _, _ in _STEPS]
    unknown = sorted(set(only or ()) - set(known))
    if unknown:
        raise ValueError(
            f"only={list(only or ())!r} names unknown tour steps {unknown}; known steps: {known}"
        )

    def say(line: str) -> None:
        print(f"  {line}", file=stream, flush=True)

    failures = 0
    for name, summary, step in _STEPS:
        if only and name not in only:
            continue
        print(f"== {name}: {summary}", file=stream, flush=True)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"kutils-demo-{name}-") as workdir:
            try:
                step(Path(workdir), say)
            except Exception:
                failures += 1
                print(traceback.format_exc(), file=stream, flush=True)
        print(f"   ({time.perf_counter() - started:.2f} s)", file=stream, flush=True)
    print(f"kutils demo: {'all steps ran' if not failures else f'{failures} step(s) failed'}", file=stream)
    return 1 if failures else 0


def register(commands: Any) -> None:
    """Adds `kutils demo` to the command line's sub-commands.

    Args:
        commands: The `argparse` sub-parsers action of the `kutils` parser.
    """
    demo = commands.add_parser(
        "demo",
        help="a short tour that runs every utility on small real data",
        description="A short tour that runs every kutils utility on small real data.",
        epilog="Example: kutils demo --only array_ops --only progbar",
    )
    demo.add_argument(
        "--only",
        metavar="STEP",
        action="append",
        choices=[name for name, _, _ in _STEPS],
        help="run only this tour step (repeatable); see --list",
    )
    demo.add_argument("--list", action="store_true", help="list the tour steps and exit")
    demo.set_defaults(handler=_run_demo_command)


def _run_demo_command(args: Any) -> int:
    if args.list:
        for name, summary in list_steps():
            print(f"{name:16} {summary}")
        return 0
    return run_tour(only=args.only, out=sys.stdout)
