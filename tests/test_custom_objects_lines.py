"""The kutils custom objects reach each Keras line's own lookups (Keras 3 and tf_keras).

Covers the global table outside any scope (Keras 2.2.4's `get_custom_objects()['X'] = X`), scopes
on tf_keras, `load_model` of `.h5` and `.keras` files on each line, and that Keras' own names and
thread-local scopes are left as they were.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from _custom_objects_support import (  # noqa: F401  (autouse fixture)
    assert_line_untouched,
    clean_custom_objects,
    keras_attributes,
    run_python,
)
from _keras_lines import import_line

from kutils import CustomObjectScope, custom_object_scope, get_custom_objects
from kutils._keras import import_tensorflow

tf = import_tensorflow()


def make_objects(line: ModuleType) -> dict[str, Any]:
    """Custom objects defined locally, so that neither line can find them by importing their module."""

    class MyReg(line.regularizers.Regularizer):
        def __init__(self, scale: float = 0.01) -> None:
            self.scale = scale

        def __call__(self, x: Any) -> Any:
            return self.scale * tf.reduce_sum(tf.abs(x))

        def get_config(self) -> dict[str, Any]:
            return {"scale": self.scale}

    def my_act(x: Any) -> Any:
        return tf.nn.relu(x) * 2.0

    class Scale(line.layers.Layer):
        def __init__(self, factor: float = 3.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x: Any) -> Any:
            return x * self.factor

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "factor": self.factor}

    return {"MyReg": MyReg, "my_act": my_act, "Scale": Scale}


def build_model(line: ModuleType) -> Any:
    """A model naming the custom objects by string (needs them resolvable while it is built)."""
    inputs = line.Input((3,))
    hidden = line.layers.Dense(4, activation="my_act", kernel_regularizer="MyReg", kernel_initializer="ones")
    outputs = get_custom_objects()["Scale"](2.5)(hidden(inputs))
    return line.Model(inputs, outputs)


INPUT = np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3)
EXPECTED = 2.5 * 2.0 * np.maximum(INPUT.sum(axis=1, keepdims=True), 0).repeat(4, axis=1)


def regularizer_named(line: ModuleType, name: str) -> Any:
    """What `line.regularizers.get(name)` gives; None where it raises (tf_keras gives the string back)."""
    try:
        return line.regularizers.get(name)
    except ValueError:
        return None


def unknown_name_errors(line: ModuleType) -> tuple[type[BaseException], ...]:
    """What each line raises for a name it cannot resolve."""
    return (ValueError, TypeError)


# --- Issue: the global table is the global table ----------------------------------------------------


def test_the_global_table_reaches_string_lookups_outside_any_scope(keras_line):
    """`get_custom_objects()[...] = ...` / `.update(...)`, then plain string lookups with no scope open.

    Before: on Keras 3 and tf_keras, `Dense(2, activation='my_act')` raised "Could not interpret
    activation function identifier" / "Unknown activation function" outside a kutils scope.
    """
    before = keras_attributes(keras_line)
    objects = make_objects(keras_line)
    get_custom_objects()["MyReg"] = objects["MyReg"]
    get_custom_objects().update({"my_act": objects["my_act"]})
    layer = keras_line.layers.Dense(2, activation="my_act", kernel_regularizer="MyReg")
    assert layer.activation is objects["my_act"]
    assert isinstance(layer.kernel_regularizer, objects["MyReg"])
    assert keras_line.activations.get("my_act") is objects["my_act"]
    regularizer = keras_line.regularizers.get({"class_name": "MyReg", "config": {"scale": 0.5}})
    assert isinstance(regularizer, objects["MyReg"])
    assert regularizer.scale == 0.5

    del get_custom_objects()["my_act"]
    with pytest.raises(ValueError, match="my_act"):
        keras_line.activations.get("my_act")
    assert isinstance(keras_line.regularizers.get("MyReg"), objects["MyReg"])
    get_custom_objects().clear()
    assert not isinstance(regularizer_named(keras_line, "MyReg"), objects["MyReg"])
    assert_line_untouched(keras_line, before)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_load_model_finds_names_of_the_global_table_outside_any_scope(keras_line, tmp_path, suffix):
    """A model saved and then loaded with plain `load_model(path)`, the names only in the global table.

    Before: `load_model` raised "Unknown layer"/"Could not locate class" on both lines (the global
    table was invisible to Keras outside a kutils scope). With the names removed it still does.
    """
    objects = make_objects(keras_line)
    path = tmp_path / f"m{suffix}"
    get_custom_objects().update(objects)
    model = build_model(keras_line)
    np.testing.assert_allclose(model.predict(INPUT, verbose=0), EXPECTED, rtol=1e-6)
    model.save(path)
    get_custom_objects().clear()
    with pytest.raises(unknown_name_errors(keras_line), match=r"MyReg|my_act|Scale"):
        keras_line.models.load_model(path)
    get_custom_objects().update(objects)
    loaded = keras_line.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(INPUT, verbose=0), EXPECTED, rtol=1e-6)
    assert isinstance(loaded.layers[-1], objects["Scale"])
    assert isinstance(loaded.layers[1].kernel_regularizer, objects["MyReg"])


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_registering_at_import_time_then_plain_load_model_in_a_fresh_process(keras_line, tmp_path):
    """The Keras 2.2.4 pattern in a new process: register at import time, then `load_model`, `Dense(...)`.

    Before: the child failed in `load_model` with an unknown-name error on both lines.
    """
    get_custom_objects().update(make_objects(keras_line))
    for suffix in (".h5", ".keras"):
        build_model(keras_line).save(tmp_path / f"m{suffix}")
    get_custom_objects().clear()
    result = run_python(
        f"import json, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        f"import {keras_line.__name__} as line\n"
        f"from kutils import get_custom_objects\n"
        f"from test_custom_objects_lines import make_objects, INPUT\n"
        f"get_custom_objects().update(make_objects(line))  # what a Keras 2 project did at import time\n"
        f"paths = [{str(tmp_path)!r} + '/m' + suffix for suffix in ('.h5', '.keras')]\n"
        f"models = [line.models.load_model(path) for path in paths]\n"
        f"outputs = [model.predict(INPUT, verbose=0).tolist() for model in models]\n"
        f"layer = line.layers.Dense(2, activation='my_act', kernel_regularizer='MyReg')\n"
        f"print(json.dumps([outputs, layer.activation.__name__]))\n"
    )
    outputs, layer_activation = json.loads(result.stdout.strip().splitlines()[-1])
    for output in outputs:
        np.testing.assert_allclose(output, EXPECTED, rtol=1e-6)
    assert layer_activation == "my_act"


def test_a_scope_on_top_of_global_names_restores_exactly(keras_line):
    """Global names stay visible to Keras during and after a scope; the scope's own names leave with it."""
    objects = make_objects(keras_line)
    get_custom_objects()["my_act"] = objects["my_act"]
    with custom_object_scope({"MyReg": objects["MyReg"]}):
        assert isinstance(keras_line.regularizers.get("MyReg"), objects["MyReg"])
        assert keras_line.activations.get("my_act") is objects["my_act"]
    assert keras_line.activations.get("my_act") is objects["my_act"]
    assert not isinstance(regularizer_named(keras_line, "MyReg"), objects["MyReg"])
    assert get_custom_objects() == {"my_act": objects["my_act"]}


def test_names_keras_registered_itself_are_untouched(keras_line):
    """`register_keras_serializable` while kutils names are active writes into Keras' own table."""
    before = keras_attributes(keras_line)
    get_custom_objects()["my_act"] = make_objects(keras_line)["my_act"]

    class Registered(keras_line.layers.Layer):
        pass

    saving = (
        keras_line.saving if hasattr(keras_line.saving, "register_keras_serializable") else keras_line.utils
    )
    saving.register_keras_serializable(package="kutils_test")(Registered)
    get_custom_objects().clear()
    assert_line_untouched(keras_line, before)
    own = saving.get_custom_objects()
    assert own["kutils_test>Registered"] is Registered
    assert "my_act" not in own
    del own["kutils_test>Registered"]


def test_keras_own_scopes_stay_thread_local_while_kutils_names_are_active(keras_line):
    """Keras' own `custom_object_scope` stays thread-local: the kutils hook does not leak it to a thread."""
    lookup = keras_line.utils.get_registered_object
    objects = make_objects(keras_line)
    get_custom_objects()["MyReg"] = objects["MyReg"]
    opened, checked = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def other_thread() -> None:
        assert opened.wait(60)
        seen["keras scope name"] = lookup("my_act")
        seen["kutils global name"] = isinstance(keras_line.regularizers.get("MyReg"), objects["MyReg"])
        checked.set()

    worker = threading.Thread(target=other_thread, daemon=True)
    worker.start()
    with keras_line.utils.custom_object_scope({"my_act": objects["my_act"]}):
        assert lookup("my_act") is objects["my_act"]
        opened.set()
        assert checked.wait(60)
    worker.join(60)
    assert seen == {"keras scope name": None, "kutils global name": True}


# --- Scopes reach each line's own lookups -----------------------------------------------------------


def test_scope_names_reach_string_and_config_lookups_and_leave_on_exit(keras_line):
    """Inside a kutils scope: string identifiers, config dicts, layer deserialization and model_from_json.

    Before, on tf_keras: every lookup below raised an unknown-name error inside the scope.
    """
    before = keras_attributes(keras_line)
    objects = make_objects(keras_line)
    with CustomObjectScope(objects):
        layer = keras_line.layers.Dense(2, kernel_regularizer="MyReg", activation="my_act")
        assert isinstance(layer.kernel_regularizer, objects["MyReg"])
        assert layer.activation is objects["my_act"]
        scale = keras_line.layers.deserialize({"class_name": "Scale", "config": {"factor": 4.0}})
        assert isinstance(scale, objects["Scale"])
        assert scale.factor == 4.0
        rebuilt = keras_line.models.model_from_json(build_model(keras_line).to_json())
        np.testing.assert_allclose(rebuilt.predict(INPUT, verbose=0), EXPECTED, rtol=1e-6)
    assert not isinstance(regularizer_named(keras_line, "MyReg"), objects["MyReg"])
    try:  # Keras 3 raises; tf_keras gives the class name back as a string
        unknown = keras_line.layers.deserialize({"class_name": "Scale", "config": {"factor": 4.0}})
    except (ValueError, TypeError):
        unknown = None
    assert not isinstance(unknown, objects["Scale"])
    assert_line_untouched(keras_line, before)


def test_tf_keras_alone_cannot_read_back_a_custom_activation_from_h5(tmp_path):
    """The upstream bug the tf_keras adapter works around: tf_keras' own scope fails on its own `.h5`."""
    line = import_line("tf_keras")
    my_act = make_objects(line)["my_act"]
    with line.utils.custom_object_scope({"my_act": my_act}):
        inputs = line.Input((3,))
        line.Model(inputs, line.layers.Dense(2, activation="my_act")(inputs)).save(tmp_path / "m.h5")
        with pytest.raises(TypeError, match="Unknown activation function: 'function'"):
            line.models.load_model(tmp_path / "m.h5")
    with CustomObjectScope({"my_act": my_act}):
        assert line.models.load_model(tmp_path / "m.h5").layers[-1].activation is my_act


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_load_model_inside_a_scope_on_each_line(keras_line, tmp_path, suffix):
    """Save and load inside a scope (`.h5` and `.keras`); after the scope the file no longer loads."""
    objects = make_objects(keras_line)
    path = tmp_path / f"m{suffix}"
    with CustomObjectScope(objects):
        build_model(keras_line).save(path)
        loaded = keras_line.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(INPUT, verbose=0), EXPECTED, rtol=1e-6)
    with pytest.raises(unknown_name_errors(keras_line), match=r"MyReg|my_act|Scale"):
        keras_line.models.load_model(path)
