"""Subprocess side of tests/test_multi_gpu.py: runs every multi-device check once, prints JSON.

Logical CPU devices can only be configured before TensorFlow initialises, so
this runs in a fresh interpreter: `python tests/_mgpu_worker.py OUT_DIR`. It
splits the CPU into 4 logical devices and uses 2 or 4 of them as replicas.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import tensorflow as tf

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 4)
# The placer prints every op's assigned device to stdout when a function runs (the run-time proof).
tf.debugging.set_log_device_placement(True)

import numpy as np  # noqa: E402

from kutils import multi_gpu_model, multi_gpu_utils  # noqa: E402
from kutils._keras import import_keras  # noqa: E402
from kutils.multi_gpu import _batch_slice  # noqa: E402

keras = import_keras()  # the active line: Keras 3, or tf_keras under TF_USE_LEGACY_KERAS=1

DEVICE_SETS = {"2": ["/cpu:0", "/cpu:1"], "4": ["/cpu:0", "/cpu:1", "/cpu:2", "/cpu:3"]}


def _single_io_model(seed: int, name: str = "single") -> Any:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((5,), name="features")
    hidden = keras.layers.Dense(8, activation="tanh", name="hidden")(inputs)
    outputs = keras.layers.Dense(3, name="scores")(hidden)
    return keras.Model(inputs, outputs, name=name)


def _siamese_model(seed: int) -> Any:
    """Two inputs, a shared layer applied twice (so a repeated output name), and a head."""
    keras.utils.set_random_seed(seed)
    left = keras.Input((4,), name="left")
    right = keras.Input((4,), name="right")
    shared = keras.layers.Dense(2, name="shared")
    head = keras.layers.Dense(1, name="head")(keras.layers.Concatenate()([left, right]))
    return keras.Model([left, right], [shared(left), shared(right), head], name="siamese")


def _max_diff(a: Any, b: Any) -> float:
    return max(float(np.max(np.abs(np.asarray(p) - np.asarray(q)))) for p, q in zip(a, b, strict=True))


def _ids(variables: Any) -> list[int]:
    return [id(variable) for variable in variables]


def _as_list(outputs: Any) -> list[Any]:
    return list(outputs) if isinstance(outputs, list | tuple) else [outputs]


def check_slicing() -> dict[str, Any]:
    """Sub-batch sizes and rows, for batch sizes that do and do not divide evenly."""
    result = {}
    for batch in (8, 11, 3):
        for parts in (2, 4):
            rows = np.arange(batch, dtype="float32")[:, None]
            slices = [_batch_slice(tf.constant(rows), index, parts).numpy()[:, 0] for index in range(parts)]
            result[f"{batch}/{parts}"] = [piece.tolist() for piece in slices]
    return result


def check_predictions() -> dict[str, Any]:
    """Parallel predictions against the template's, for several batch sizes and device counts."""
    template = _single_io_model(1)
    siamese = _siamese_model(2)
    rng = np.random.default_rng(0)
    result: dict[str, Any] = {}
    for count, devices in DEVICE_SETS.items():
        parallel = multi_gpu_model(template, devices=devices)
        for batch in (16, 11, 3):
            x = rng.standard_normal((batch, 5)).astype("float32")
            got = parallel.predict(x, batch_size=batch, verbose=0)
            result[f"single/{count}/{batch}"] = {
                "diff": _max_diff([got], [template.predict(x, verbose=0)]),
                "shape": list(got.shape),
            }
        parallel_siamese = multi_gpu_model(siamese, devices=devices)
        pair = [rng.standard_normal((13, 4)).astype("float32") for _ in range(2)]
        got = _as_list(parallel_siamese.predict(pair, batch_size=13, verbose=0))
        result[f"siamese/{count}"] = {
            "diff": _max_diff(got, _as_list(siamese.predict(pair, verbose=0))),
            "outputs": len(got),
            "output_names": list(parallel_siamese.output_names),
        }
    result["siamese_template_output_names"] = list(siamese.output_names)
    return result


def _op_devices(parallel: Any, signature: Any) -> dict[str, list[str]]:
    """Device of every op of the traced graph, grouped by replica (or 'concat'/'slice')."""
    graph = tf.function(lambda x: parallel(x, training=False)).get_concrete_function(signature).graph
    groups: dict[str, set[str]] = {}
    for op in graph.get_operations():
        scope = next((part for part in op.name.split("/") if part.startswith("replica_")), None)
        if scope is not None:
            key = scope
        elif op.type == "ConcatV2":
            key = "concat"
        elif op.type == "StridedSlice":
            key = "slice"
        else:
            continue
        groups.setdefault(key, set()).add(op.device)
    return {key: sorted(devices) for key, devices in groups.items()}


def check_placement() -> dict[str, Any]:
    """Traced-graph op devices, and eager (run-time) devices of each replica's outputs."""
    template = _single_io_model(3)
    spec = tf.TensorSpec([None, 5], tf.float32)
    result: dict[str, Any] = {}
    for name, devices, cpu_merge in (
        ("4", DEVICE_SETS["4"], True),
        ("2_reversed", ["/cpu:3", "/cpu:1"], True),
        ("2_gpu_merge", ["/cpu:2", "/cpu:1"], False),
    ):
        parallel = multi_gpu_model(template, devices=devices, cpu_merge=cpu_merge)
        replicated = parallel.get_layer("replicated_template")
        eager_parts = replicated(tf.ones((7, 5)))[0]
        result[name] = {
            "devices": devices,
            "graph": _op_devices(parallel, spec),
            "eager": [part.device for part in eager_parts],
            "eager_rows": [int(part.shape[0]) for part in eager_parts],
        }
    return result


def check_runtime_placement() -> dict[str, Any]:
    """One `fit` step and one `predict` of uniquely named models, for the placer's log on stdout."""
    x = np.ones((6, 5), dtype="float32")
    fit_template = _single_io_model(10, name="probe_fit")
    trained = multi_gpu_model(fit_template, devices=["/cpu:3", "/cpu:1"])
    trained.compile(optimizer="sgd", loss="mse")
    trained.fit(x, np.zeros((6, 3), dtype="float32"), batch_size=6, epochs=1, verbose=0)
    merged_on_first = multi_gpu_model(
        _single_io_model(11, name="probe_merge"), devices=["/cpu:2", "/cpu:1"], cpu_merge=False
    )
    varied = np.linspace(-2, 2, 35, dtype="float32").reshape(7, 5)
    merge_diff = _max_diff(
        [merged_on_first.predict(varied, verbose=0)],
        [merged_on_first.get_layer("replicated_template").template.predict(varied, verbose=0)],
    )
    return {
        "probe_fit": {"devices": ["/cpu:3", "/cpu:1"], "merge": "/cpu:0"},
        "probe_merge": {"devices": ["/cpu:2", "/cpu:1"], "merge": "/cpu:2", "diff": merge_diff},
    }


def check_training(workdir: Path) -> dict[str, Any]:
    """`fit` on the parallel model against the same steps on an unwrapped copy of the template."""
    result: dict[str, Any] = {}
    rng = np.random.default_rng(1)
    x = rng.standard_normal((13, 5)).astype("float32")
    y = rng.standard_normal((13, 3)).astype("float32")
    for count, devices, eagerly in (
        ("2", DEVICE_SETS["2"], False),
        ("4", DEVICE_SETS["4"], False),
        ("2_eager", DEVICE_SETS["2"], True),
    ):
        template = _single_io_model(4)
        reference = keras.models.clone_model(template)
        reference.set_weights(template.get_weights())
        before = template.get_weights()
        parallel = multi_gpu_model(template, devices=devices)
        for model in (parallel, reference):
            model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", run_eagerly=eagerly)
            model.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
        result[f"fit/{count}"] = {
            "diff_to_reference": _max_diff(template.get_weights(), reference.get_weights()),
            "change": _max_diff(template.get_weights(), before),
            "shared": [id(v) for v in parallel.trainable_variables]
            == [id(v) for v in template.trainable_variables],
        }

    siamese = _siamese_model(5)
    reference = keras.models.clone_model(siamese)
    reference.set_weights(siamese.get_weights())
    parallel = multi_gpu_model(siamese, devices=DEVICE_SETS["4"])
    pair = [rng.standard_normal((10, 4)).astype("float32") for _ in range(2)]
    targets = [rng.standard_normal((10, 2)), rng.standard_normal((10, 2)), rng.standard_normal((10, 1))]
    for model in (parallel, reference):
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss=["mse", "mse", "mae"])
        model.fit(pair, targets, batch_size=10, epochs=1, shuffle=False, verbose=0)
    result["fit/siamese"] = {"diff_to_reference": _max_diff(siamese.get_weights(), reference.get_weights())}

    # The saving advice of https://keras.io/ja/utils/#multi_gpu_model: save the template, reload it,
    # same predictions as the parallel model.
    template = _single_io_model(6)
    parallel = multi_gpu_model(template, devices=DEVICE_SETS["2"])
    parallel.compile(optimizer="rmsprop", loss="mse")
    checkpoint = keras.callbacks.ModelCheckpoint(str(workdir / "parallel_checkpoint.keras"))
    parallel.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[checkpoint])
    expected = parallel.predict(x, verbose=0)
    saved = {}
    for filename in ("my model.h5", "template.keras"):
        template.save(str(workdir / filename))
        reloaded = keras.models.load_model(str(workdir / filename), compile=False)
        saved[filename] = _max_diff([reloaded.predict(x, verbose=0)], [expected])
    # Beyond 2.2.4: the parallel model itself saves (and ModelCheckpoint on it works).
    parallel.save(str(workdir / "parallel.keras"))
    for filename in ("parallel.keras", "parallel_checkpoint.keras"):
        reloaded = keras.models.load_model(str(workdir / filename))
        saved[filename] = _max_diff([reloaded.predict(x, verbose=0)], [expected])
        saved[f"{filename} devices"] = reloaded.get_layer("replicated_template").devices
    template.save_weights(str(workdir / "template.weights.h5"))
    fresh = _single_io_model(7)
    fresh.load_weights(str(workdir / "template.weights.h5"))
    saved["weights"] = _max_diff([fresh.predict(x, verbose=0)], [expected])
    result["saved"] = saved
    return result


def _device_of(variable: Any) -> str:
    """Where a Keras 3 variable (its `.value` tf.Variable) or a tf_keras tf.Variable lives."""
    return str(variable.device if callable(variable.value) else variable.value.device)


def check_cpu_relocation() -> dict[str, Any]:
    """cpu_relocation moves the template's weights to /cpu:0 and keeps them shared and unchanged."""
    with tf.device("/cpu:2"):
        template = _single_io_model(8)
    if keras.__name__ == "tf_keras":
        relocate = lambda: multi_gpu_model(template, devices=["/cpu:1", "/cpu:3"], cpu_relocation=True)  # noqa: E731
        return {"tf_keras_error": _error_of(relocate)}
    ids_before = [id(v) for v in template.variables]
    values_before = template.get_weights()
    devices_before = sorted({_device_of(v) for v in template.variables})
    parallel = multi_gpu_model(template, devices=["/cpu:1", "/cpu:3"], cpu_relocation=True)
    devices_after = sorted({_device_of(v) for v in template.variables})
    values_after = template.get_weights()
    x = np.linspace(-1, 1, 30, dtype="float32").reshape(6, 5)
    y = np.ones((6, 3), dtype="float32")
    parallel.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    parallel.fit(x, y, batch_size=6, epochs=1, verbose=0)
    return {
        "devices_before": devices_before,
        "devices_after": devices_after,
        "same_objects": ids_before == [id(v) for v in template.variables],
        "value_change_on_relocation": _max_diff(values_after, values_before),
        "trained_template_change": _max_diff(template.get_weights(), values_after),
        "predict_diff": _max_diff([parallel.predict(x, verbose=0)], [template.predict(x, verbose=0)]),
    }


def _error_of(call: Any) -> list[str]:
    try:
        call()
    except Exception as error:  # recorded for the test to check type and message
        return [type(error).__name__, [klass.__name__ for klass in type(error).__mro__], str(error)]  # type: ignore[list-item]
    return ["no error", [], ""]  # type: ignore[list-item]


def check_errors() -> dict[str, Any]:
    """Every error path, with its type, its base classes and its message."""
    template = _single_io_model(9)
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    available = [f"/cpu:{i}" for i in range(4)]
    cases = {
        "gpus_none": lambda: multi_gpu_model(template),
        "gpus_1": lambda: multi_gpu_model(template, gpus=1),
        "gpus_list_1": lambda: multi_gpu_model(template, gpus=[0]),
        "gpus_2_missing": lambda: multi_gpu_model(template, gpus=2),
        "gpus_list_missing": lambda: multi_gpu_model(template, gpus=[0, 3]),
        "gpus_float": lambda: multi_gpu_model(template, gpus=2.5),
        "devices_1": lambda: multi_gpu_model(template, devices=["/cpu:1"]),
        "devices_missing": lambda: multi_gpu_model(template, devices=["/cpu:0", "/cpu:9"]),
        "devices_repeated": lambda: multi_gpu_model(template, devices=["/cpu:1", "/device:CPU:1"]),
        "devices_string": lambda: multi_gpu_model(template, devices="/cpu:1"),
        "gpus_and_devices": lambda: multi_gpu_model(template, gpus=2, devices=["/cpu:0", "/cpu:1"]),
        "not_a_model": lambda: multi_gpu_model("model.h5", devices=["/cpu:0", "/cpu:1"]),
        "unbuilt": lambda: multi_gpu_model(unbuilt, devices=["/cpu:0", "/cpu:1"]),
    }
    return {"available": available, **{name: _error_of(call) for name, call in cases.items()}}


def main() -> None:
    workdir = Path(sys.argv[1])
    results = {
        "slicing": check_slicing(),
        "predictions": check_predictions(),
        "placement": check_placement(),
        "runtime_placement": check_runtime_placement(),
        "training": check_training(workdir),
        "cpu_relocation": check_cpu_relocation(),
        "errors": check_errors(),
        "alias_is_same_function": multi_gpu_utils.multi_gpu_model is multi_gpu_model,
        "keras_line": keras.__name__,
    }
    (workdir / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
