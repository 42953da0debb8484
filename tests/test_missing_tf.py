"""Without TensorFlow/Keras: the light utilities work, the others say how to install them."""

import json
import subprocess
import sys
import textwrap

import pytest

_NEEDS_KERAS = ["Sequence", "ArraySequence", "multi_gpu_model", "distributed_fit"]
_LIGHT = [
    "to_categorical",
    "normalize",
    "Progbar",
    "CustomObjectScope",
    "get_file",
    "HDF5Matrix",
    "OrderedEnqueuer",
    "GeneratorEnqueuer",
    "print_summary",
    "plot_model",
]


@pytest.fixture(scope="module")
def without_tf() -> dict:
    """Runs kutils in a fresh interpreter where importing tensorflow or keras fails."""
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.modules["tensorflow"] = None  # makes `import tensorflow` raise ImportError
        sys.modules["keras"] = None
        import kutils
        report = {{"onehot": kutils.to_categorical([0, 2]).tolist(), "errors": {{}}, "light": []}}
        for name in {_NEEDS_KERAS!r}:
            try:
                getattr(kutils, name)
            except ImportError as error:
                report["errors"][name] = [type(error).__name__, str(error)]
        for name in {_LIGHT!r}:
            getattr(kutils, name)
            report["light"].append(name)
        print(json.dumps(report))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_light_utilities_work_without_tensorflow(without_tf: dict) -> None:
    """to_categorical runs and the TF-free names resolve when TF/Keras cannot be imported."""
    assert without_tf["onehot"] == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    assert without_tf["light"] == _LIGHT


@pytest.mark.parametrize("name", _NEEDS_KERAS)
def test_keras_utilities_raise_import_error_naming_the_extra(without_tf: dict, name: str) -> None:
    """Each Keras-backed name raises an ImportError that names `pip install "kutils[tf]"`."""
    kind, message = without_tf["errors"][name]
    assert kind == "MissingKerasError"
    assert 'pip install "kutils[tf]"' in message
