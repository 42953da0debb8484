"""`kutils summary` and `kutils plot` on real model files, each command run as a subprocess.

The files are written once per session by tests/_cli_model_files.py in a process of its own: models
saved by the active Keras (`.keras`, `.h5`) and by tf_keras in the Keras 2 `.h5` format, including a
custom layer, a Lambda layer and a nested Sequential that Keras 3 cannot load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kutils._keras import import_keras

HERE = Path(__file__).parent
SCALE_LAYER = HERE / "cli_files" / "scale_layer.py"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
ON_TF_KERAS = import_keras().__name__ == "tf_keras"


def kutils(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Runs `python -m kutils ARGV...` in a fresh process and returns it finished."""
    command = [sys.executable, "-m", "kutils", *argv]
    return subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=timeout, check=False)


def kutils_lines(stderr: str) -> list[str]:
    """The lines kutils itself wrote on stderr (not TensorFlow's start-up chatter)."""
    return [line for line in stderr.splitlines() if line.startswith("kutils")]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models")
    made = subprocess.run(
        [sys.executable, str(HERE / "_cli_model_files.py"), str(out)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    return out


def api_summary(path: Path, **custom_objects: object) -> dict:
    """The Python API's view of a model file: `print_summary` of the model the active Keras loads."""
    from kutils import print_summary

    model = import_keras().models.load_model(path, compile=False, custom_objects=custom_objects)
    return print_summary(model, print_fn=lambda line: None).to_dict()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["k3_functional.keras", "k3_functional.h5", "keras2_functional.h5"])
def test_summary_prints_the_keras_2_2_4_table_loaded_by_keras(files, name):
    """A file the active Keras loads: the 2.2.4 table on stdout, the same as print_summary of the model."""
    result = kutils("summary", str(files / name))
    assert result.returncode == 0, result.stderr[-2000:]
    expected = api_summary(files / name)
    assert result.stdout.splitlines() == list(expected["lines"])
    assert "Connected to" in result.stdout  # two branches: the 4-column layout
    assert "add (Add)" in result.stdout
    assert "d2[0][0]" in result.stdout
    assert kutils_lines(result.stderr) == []  # nothing to say: Keras loaded it


@pytest.mark.slow
def test_summary_json_has_the_model_summary_fields(files):
    """`--json` prints the ModelSummary fields (rows, totals, bytes, lines) plus where it came from."""
    result = kutils("summary", str(files / "k3_functional.keras"), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    expected = api_summary(files / "k3_functional.keras")
    assert report["source"] == "keras"
    assert report["reason"] == ""
    for key in ("model_name", "total_params", "trainable_params", "non_trainable_params", "param_bytes"):
        assert report[key] == expected[key], key
    assert [row["name"] for row in report["rows"]] == [row["name"] for row in expected["rows"]]
    assert report["lines"] == list(expected["lines"])


@pytest.mark.slow
def test_summary_line_length_and_positions_are_passed_on(files):
    """`--line-length` and `--positions` lay the table out as print_summary's arguments do."""
    result = kutils(
        "summary", str(files / "k3_functional.keras"), "--line-length", "120", "--positions", ".4,.6,.7,1"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0] == "_" * 120
    assert lines[1].index("Output Shape") == 48  # 0.4 * 120


@pytest.mark.slow
def test_summary_reads_a_file_keras_cannot_load_and_says_so(files):
    """A Keras 2 `.h5` with a custom class nobody passed: kutils reads the file itself and says why."""
    result = kutils("summary", str(files / "keras2_custom.h5"))
    assert result.returncode == 0, result.stderr[-2000:]
    said = "\n".join(kutils_lines(result.stderr))
    assert "was not loaded with Keras" in said
    assert "Scale" in said
    assert "read the model from the file itself" in said
    lines = result.stdout.splitlines()
    assert lines[1].startswith("Layer (type)")
    assert "img (InputLayer)             (None, 6)" in result.stdout  # recorded shape
    assert any(line.startswith("d (Dense)") and " 35 " in line for line in lines)  # 6*5+5 from the weights
    assert any(line.startswith("scale (Scale)") and " 5 " in line for line in lines)
    assert "Total params: 40" in lines


@pytest.mark.slow
def test_custom_objects_file_lets_keras_load_the_custom_layer(files):
    """`--custom-objects scale_layer.py` imports the file (and says so); Keras then loads the model."""
    result = kutils(
        "summary", str(files / "keras2_custom.h5"), "--custom-objects", str(SCALE_LAYER), "--json"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert any("imported --custom-objects" in line for line in kutils_lines(result.stderr))
    report = json.loads(result.stdout)
    assert report["source"] == "keras"
    assert [row["class_name"] for row in report["rows"]] == ["InputLayer", "Dense", "Scale"]
    assert report["total_params"] == 40


@pytest.mark.slow
def test_nested_keras2_model_that_keras_3_cannot_load_is_read_from_the_file(files):
    """A tf_keras `.h5` with a nested Sequential: Keras 3 fails, kutils still lists every layer and count."""
    result = kutils("summary", str(files / "keras2_nested.h5"), "--expand-nested", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    names = [(row["name"], row["depth"]) for row in report["rows"]]
    assert ("head", 0) in names
    assert ("inner_d", 1) in names
    assert report["total_params"] == 6 * 5 + 5 + 4 * 5 + 5 * 3 + 3
    assert report["non_trainable_params"] == 10  # the moving mean and variance of bn
    if ON_TF_KERAS:
        assert report["source"] == "keras"  # tf_keras reads its own nested models
    else:
        assert report["source"] == "file"
        assert "IndexError" in report["reason"]


@pytest.mark.slow
def test_lambda_code_is_not_run_without_unsafe(files):
    """A Lambda layer's stored bytecode: not handed to Keras unless --unsafe; with it Keras loads it."""
    safe = kutils("summary", str(files / "keras2_lambda.h5"), "--json")
    assert safe.returncode == 0, safe.stderr[-2000:]
    report = json.loads(safe.stdout)
    assert report["source"] == "file"
    assert "double (Lambda)" in report["reason"]
    assert "--unsafe" in report["reason"]
    unsafe = kutils("summary", str(files / "keras2_lambda.h5"), "--unsafe", "--json")
    assert unsafe.returncode == 0, unsafe.stderr[-2000:]
    assert json.loads(unsafe.stdout)["source"] == "keras"


@pytest.mark.slow
@pytest.mark.parametrize("extension", ["png", "dot"])
def test_plot_writes_the_image_loaded_by_keras(files, tmp_path, extension):
    """`kutils plot MODEL -o FILE`: the format from the extension; stdout names the file."""
    target = tmp_path / f"model.{extension}"
    result = kutils(
        "plot", str(files / "k3_functional.keras"), "-o", str(target), "--show-shapes", "--rankdir", "LR"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(target)
    data = target.read_bytes()
    if extension == "png":
        assert data.startswith(b"\x89PNG")
    elif extension == "svg":
        assert b"<svg" in data
        assert b"d1: Dense" in data
    else:
        assert b"rankdir=LR" in data
        assert b"(None, 4)" in data


@pytest.mark.slow
def test_plot_draws_a_file_keras_cannot_load_from_its_configuration(files, tmp_path):
    """The fallback draws the stored graph: nodes per layer, nested model as a cluster, edges in order."""
    target = tmp_path / "nested.dot"
    result = kutils("plot", str(files / "keras2_nested.h5"), "-o", str(target), "--expand-nested")
    assert result.returncode == 0, result.stderr[-2000:]
    text = target.read_text()
    if not ON_TF_KERAS:
        assert "cluster_head" in text
        assert '"img" -> "d"' in text
        assert '"bn" -> "head/inner_d"' in text
    assert "inner_d: Dense" in text


def test_missing_model_file_is_one_line_on_stderr_and_status_1(tmp_path):
    """A missing file: exit 1, one kutils line naming it, no traceback."""
    result = kutils("summary", str(tmp_path / "nope.h5"))
    assert result.returncode == 1
    assert kutils_lines(result.stderr) == [
        f"kutils summary: error: FileNotFoundError: MODEL '{tmp_path / 'nope.h5'}' does not exist or is not "
        "a file. (--debug shows the traceback)"
    ]
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # Keras is tried first: TensorFlow starts in the subprocess
def test_weights_only_file_says_it_holds_no_model(tmp_path):
    """An HDF5 file without a model configuration: exit 1 with a StoredModelError naming why."""
    import h5py

    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as file:
        file["dense/kernel:0"] = [[1.0]]
    result = kutils("summary", str(path))
    assert result.returncode == 1
    (line,) = kutils_lines(result.stderr)
    assert "StoredModelError" in line
    assert "holds no model configuration" in line


def test_debug_shows_the_traceback(tmp_path):
    """`--debug` lets the exception through: Python's traceback, still a non-zero status."""
    result = kutils("--debug", "summary", str(tmp_path / "nope.h5"))
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["summary"], "the following arguments are required: MODEL"),
        (["summary", "m.h5", "--positions", "0.5,x"], "'0.5,x' is not a comma-separated list of numbers"),
        (["plot", "m.h5"], "the following arguments are required: -o/--output"),
        (["plot", "m.h5", "-o", "x.png", "--rankdir", "UP"], "invalid choice: 'UP'"),
    ],
)
def test_usage_errors_exit_2(argv, message):
    """Wrong arguments are usage errors: exit 2 with argparse's message, nothing on stdout."""
    result = kutils(*argv)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["summary", "plot", "fetch", "cache", "h5", "demo"])
def test_every_command_has_help_with_an_example(command):
    """`kutils COMMAND --help` exits 0 and shows an example line."""
    result = kutils(command, "--help")
    assert result.returncode == 0
    assert "Example: kutils" in result.stdout


@pytest.mark.slow
def test_keras_2_2_4_file_gets_the_whole_table_even_where_keras_3_cannot_load_it(files):
    """A file as Keras 2.2.4 wrote it, with a nested Sequential head: every row, shape and count.

    Keras 3 cannot load it (its legacy loader fails on the nested model), so kutils reads the file;
    the output shapes come from rebuilding each layer alone from its stored configuration.
    """
    result = kutils("summary", str(files / "keras224_mnist.h5"), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    rows = [
        (row["name"], row["class_name"], row["output_shape"], row["param_count"]) for row in report["rows"]
    ]
    assert rows == [
        ("image", "InputLayer", "(None, 28, 28, 1)", 0),
        ("conv2d_1", "Conv2D", "(None, 26, 26, 8)", 3 * 3 * 8 + 8),
        ("pool_1", "MaxPooling2D", "(None, 13, 13, 8)", 0),
        ("flatten_1", "Flatten", "(None, 1352)", 0),
        ("head", "Sequential", "(None, 10)", 1352 * 10 + 10),
    ]
    assert report["lines"][-4] == "Total params: 13,610"
    if not ON_TF_KERAS:
        assert report["source"] == "file"
        said = "\n".join(kutils_lines(result.stderr))
        assert "(written by Keras 2.2.4) was not loaded with Keras" in said
