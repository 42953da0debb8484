"""multi_gpu_model on 2 and 4 logical CPU devices, checked in one fresh subprocess.

Logical devices must be configured before TensorFlow initialises, so every
check runs in `tests/_mgpu_worker.py` (one interpreter, ~10 s); the tests here
read its JSON results and compare them with independent references.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

WORKER = Path(__file__).with_name("_mgpu_worker.py")
FLOAT_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("multi_gpu")
    completed = subprocess.run(
        [sys.executable, str(WORKER), str(workdir)], capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return {**json.loads((workdir / "results.json").read_text()), "placer_log": completed.stdout}


def _keras_224_sub_batches(batch: int, parts: int) -> list[list[int]]:
    """Reference: step = batch // parts; the last part takes everything from (parts-1)*step on."""
    step = batch // parts
    bounds = [(i * step, (i + 1) * step) for i in range(parts - 1)] + [((parts - 1) * step, batch)]
    return [list(range(start, stop)) for start, stop in bounds]


def _keras_224_output_names(names: list[str]) -> list[str]:
    """Reference: each occurrence of a repeated name is numbered from 1."""
    counters: dict[str, int] = {}
    renamed = []
    for name in names:
        if names.count(name) > 1:
            counters[name] = counters.get(name, 0) + 1
            name = f"{name}_{counters[name]}"
        renamed.append(name)
    return renamed


@pytest.mark.slow
def test_sub_batches_follow_the_keras_224_slicing_rule(results: dict[str, Any]) -> None:
    """Equal sub-batches with the remainder on the last device, including batches smaller than the count."""
    for key, pieces in results["slicing"].items():
        batch, parts = map(int, key.split("/"))
        assert [[int(row) for row in piece] for piece in pieces] == _keras_224_sub_batches(batch, parts), key


@pytest.mark.parametrize("count", ["2", "4"])
@pytest.mark.parametrize("batch", [16, 11, 3])
def test_parallel_predictions_equal_the_template(results: dict[str, Any], count: str, batch: int) -> None:
    """The parallel model predicts what the template predicts, for even, uneven and tiny batches."""
    outcome = results["predictions"][f"single/{count}/{batch}"]
    assert outcome["shape"] == [batch, 3]
    assert outcome["diff"] <= FLOAT_TOLERANCE


@pytest.mark.parametrize("count", ["2", "4"])
def test_multi_input_multi_output_predictions_equal_the_template(results: dict[str, Any], count: str) -> None:
    """A two-input, three-output model gives the template's three outputs."""
    outcome = results["predictions"][f"siamese/{count}"]
    assert outcome["outputs"] == 3
    assert outcome["diff"] <= FLOAT_TOLERANCE


def test_repeated_output_names_are_deduplicated_like_keras_224(results: dict[str, Any]) -> None:
    """A shared layer output twice gets `_1`, `_2` suffixes; unique names stay as they are."""
    template_names = results["predictions"]["siamese_template_output_names"]
    if results["keras_line"] == "tf_keras":  # tf_keras itself names them `shared`, `shared_1`: kept
        assert template_names == ["shared", "shared_1", "head"]
    else:
        assert len(set(template_names)) < len(template_names)
    for count in ("2", "4"):
        names = results["predictions"][f"siamese/{count}"]["output_names"]
        assert names == _keras_224_output_names(template_names)


def _device_index(device: str) -> str:
    return device.rsplit(":", 1)[-1]


@pytest.mark.parametrize("case", ["4", "2_reversed", "2_gpu_merge"])
def test_traced_graph_places_each_replica_on_its_device(results: dict[str, Any], case: str) -> None:
    """In the traced graph, replica i's ops carry device i (variable reads stay with the variables)."""
    outcome = results["placement"][case]
    graph = outcome["graph"]
    for index, device in enumerate(outcome["devices"]):
        placed = [name for name in graph[f"replica_{index}"] if name]
        assert placed == [f"/device:CPU:{_device_index(device)}"], (index, graph)


@pytest.mark.parametrize("case", ["4", "2_reversed", "2_gpu_merge"])
def test_replicas_run_on_their_device_when_executed(results: dict[str, Any], case: str) -> None:
    """Run eagerly, each replica's output tensor was computed on its device, with its sub-batch."""
    outcome = results["placement"][case]
    expected = [f"/job:localhost/replica:0/task:0/device:CPU:{_device_index(d)}" for d in outcome["devices"]]
    assert outcome["eager"] == expected
    assert outcome["eager_rows"] == [len(rows) for rows in _keras_224_sub_batches(7, len(expected))]


_PLACED = re.compile(
    r"^(?P<op>\S+): \((?P<type>\w+)\): /job:localhost/replica:0/task:0/device:CPU:(?P<cpu>\d+)$"
)
# Keras 3.3's Dense adds its bias with AddV2 (later Keras: BiasAdd); its gradient is a Sum/Identity.
_REPLICA_COMPUTE = {"MatMul", "BiasAdd", "AddV2", "Tanh", "BiasAddGrad", "TanhGrad"}


def _placed_ops(log: str, model: str) -> list[tuple[str, str, str]]:
    """(op name, op type, '/cpu:N') of every op of `model`'s functions, as the placer assigned them."""
    matches = (_PLACED.match(line) for line in log.splitlines())
    return [
        (match["op"], match["type"], f"/cpu:{match['cpu']}")
        for match in matches
        if match and f"{model}_multi_device" in match["op"]
    ]


@pytest.mark.parametrize("model", ["probe_fit", "probe_merge"])
def test_placer_runs_each_replicas_forward_and_backward_ops_on_its_device(
    results: dict[str, Any], model: str
) -> None:
    """The placer's log of real `fit`/`predict` runs: replica i's compute ops (gradients too) on device i."""
    expected = results["runtime_placement"][model]
    placed = _placed_ops(results["placer_log"], model)
    for index, device in enumerate(expected["devices"]):
        compute = [
            (op, kind, at)
            for op, kind, at in placed
            if f"/replica_{index}/" in op and kind in _REPLICA_COMPUTE
        ]
        assert {at for _, _, at in compute} == {device}, compute
        forward = [op for op, _, _ in compute if "gradient_tape/" not in op]
        backward = [op for op, _, _ in compute if "gradient_tape/" in op]
        assert len(forward) >= 5, compute  # 2 MatMul, 2 BiasAdd, Tanh
        if model == "probe_fit":
            assert len(backward) >= 5, compute  # MatMul, BiasAddGrad (x2) and TanhGrad gradients
        else:
            assert backward == [], compute  # predict has no backward pass
    merge = {at for op, kind, at in placed if kind == "ConcatV2" and "gradient_tape/" not in op}
    assert merge == {expected["merge"]}


def test_cpu_merge_false_predicts_like_the_template(results: dict[str, Any]) -> None:
    """Merging on the first replica device (cpu_merge=False) changes where, not what, is computed."""
    assert results["runtime_placement"]["probe_merge"]["diff"] <= FLOAT_TOLERANCE


@pytest.mark.parametrize(("case", "merge_device"), [("4", "/cpu:0"), ("2_gpu_merge", "/cpu:2")])
def test_split_and_merge_happen_on_the_merge_device(
    results: dict[str, Any], case: str, merge_device: str
) -> None:
    """Slicing and concatenation run on /cpu:0, or on the first device with cpu_merge=False."""
    graph = results["placement"][case]["graph"]
    expected = [f"/device:CPU:{_device_index(merge_device)}"]
    assert graph["slice"] == expected
    assert graph["concat"] == expected


@pytest.mark.parametrize("count", ["2", "4", "2_eager"])
def test_fit_on_parallel_model_trains_the_template_like_a_single_device_run(
    results: dict[str, Any], count: str
) -> None:
    """Two epochs of `fit` through the replicas (traced or run_eagerly) equal the same steps on one device."""
    outcome = results["training"][f"fit/{count}"]
    assert outcome["shared"]
    assert outcome["change"] > 1e-3
    assert outcome["diff_to_reference"] <= FLOAT_TOLERANCE


def test_fit_with_multiple_inputs_and_outputs_matches_a_single_device_run(results: dict[str, Any]) -> None:
    """A list of losses over three outputs trains the template exactly like the unwrapped model."""
    assert results["training"]["fit/siamese"]["diff_to_reference"] <= FLOAT_TOLERANCE


@pytest.mark.parametrize("saved_as", ["my model.h5", "template.keras", "weights"])
def test_saved_template_reloads_with_the_parallel_models_predictions(
    results: dict[str, Any], saved_as: str
) -> None:
    """`template.save(...)` and `save_weights` keep the trained weights.

    Also the 'my model.h5' of https://keras.io/ja/utils/#multi_gpu_model.
    """
    assert results["training"]["saved"][saved_as] <= FLOAT_TOLERANCE


@pytest.mark.parametrize("saved_as", ["parallel.keras", "parallel_checkpoint.keras"])
def test_parallel_model_itself_saves_and_reloads(results: dict[str, Any], saved_as: str) -> None:
    """Unlike 2.2.4, `parallel.save` and ModelCheckpoint on the parallel model work.

    https://github.com/keras-team/keras/issues/8446
    """
    assert results["training"]["saved"][saved_as] <= FLOAT_TOLERANCE
    assert results["training"]["saved"][f"{saved_as} devices"] == ["/cpu:0", "/cpu:1"]


def test_cpu_relocation_moves_weights_to_cpu0_and_keeps_them_shared(results: dict[str, Any]) -> None:
    """Unlike 2.2.4's clone (keras#11313), relocation keeps the template's variables, values and training."""
    outcome = results["cpu_relocation"]
    if results["keras_line"] == "tf_keras":  # tf.Variables cannot move: a clear error naming the fix
        type_name, bases, message = outcome["tf_keras_error"]
        assert type_name == "DevicePlacementError"
        assert "ValueError" in bases
        assert "with tf.device('/cpu:0'):" in message
        return
    assert outcome["devices_before"] == ["/job:localhost/replica:0/task:0/device:CPU:2"]
    assert outcome["devices_after"] == ["/job:localhost/replica:0/task:0/device:CPU:0"]
    assert outcome["same_objects"]
    assert outcome["value_change_on_relocation"] == 0.0
    assert outcome["trained_template_change"] > 1e-3
    assert outcome["predict_diff"] <= FLOAT_TOLERANCE


def test_keras2_module_path_gives_the_same_function(results: dict[str, Any]) -> None:
    """`kutils.multi_gpu_utils.multi_gpu_model` is the same function as `kutils.multi_gpu_model`."""
    assert results["alias_is_same_function"] is True


_LOW = "For multi-gpu usage to be effective, call `multi_gpu_model` with `{arg} >= 2`. Received: `{got}`"
_MISSING = (
    "To call `multi_gpu_model` with `{arg}`, we expect the following devices to be available: {wanted}. "
    "However this machine only has: {available}. {advice}"
)
_REDUCE = "Try reducing `gpus`."

ERROR_CASES = {
    "gpus_none": ("DevicePlacementError", _LOW.format(arg="gpus", got="gpus=0")),
    "gpus_1": ("DevicePlacementError", _LOW.format(arg="gpus", got="gpus=1")),
    "gpus_list_1": ("DevicePlacementError", _LOW.format(arg="len(gpus)", got="gpus=[0]")),
    "gpus_2_missing": (
        "DevicePlacementError",
        _MISSING.format(
            arg="gpus=2", wanted=["/cpu:0", "/gpu:0", "/gpu:1"], available="{available}", advice=_REDUCE
        ),
    ),
    "gpus_list_missing": (
        "DevicePlacementError",
        _MISSING.format(
            arg="gpus=[0, 3]", wanted=["/cpu:0", "/gpu:0", "/gpu:3"], available="{available}", advice=_REDUCE
        ),
    ),
    "devices_1": ("DevicePlacementError", _LOW.format(arg="len(devices)", got="devices=['/cpu:1']")),
    "devices_missing": (
        "DevicePlacementError",
        _MISSING.format(
            arg="devices=['/cpu:0', '/cpu:9']",
            wanted=["/cpu:0", "/cpu:9"],
            available="{available}",
            advice="Name only devices that exist.",
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_keras_224_error_messages(results: dict[str, Any], case: str) -> None:
    """Too few or missing devices raise a ValueError subclass with the Keras 2.2.4 message."""
    type_name, bases, message = results["errors"][case]
    expected_type, expected_message = ERROR_CASES[case]
    assert type_name == expected_type
    assert "ValueError" in bases
    assert message == expected_message.replace("{available}", str(results["errors"]["available"]))


@pytest.mark.parametrize(
    ("case", "expected_type", "named_value"),
    [
        ("gpus_float", "TypeError", "gpus=2.5"),
        ("devices_string", "TypeError", "'/cpu:1'"),
        ("devices_repeated", "DevicePlacementError", "'/device:CPU:1'"),
        ("gpus_and_devices", "ValueError", "gpus=2"),
        ("not_a_model", "TypeError", "'model.h5'"),
        ("unbuilt", "ValueError", "'sequential'"),
    ],
)
def test_bad_arguments_raise_clear_errors(
    results: dict[str, Any], case: str, expected_type: str, named_value: str
) -> None:
    """Wrong types, repeated devices, gpus+devices and input-less models name the bad value."""
    type_name, _, message = results["errors"][case]
    assert type_name == expected_type
    assert named_value in message
