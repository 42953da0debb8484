"""Tests for kutils.serialization: Keras 2.2.4 (de)serialization rules, on plain and Keras 3 objects."""

from __future__ import annotations

import numpy as np
import pytest
from _custom_objects_support import clean_custom_objects  # noqa: F401  (autouse fixture)

from kutils import CustomObjectScope, deserialize_keras_object, get_custom_objects, serialize_keras_object
from kutils._keras import import_keras
from kutils.serialization import ImproperConfigError, UninterpretableIdentifierError, UnknownObjectError

keras = import_keras()


class Recorder:
    """A plain class whose from_config takes custom_objects and records what it got."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.custom_objects: dict[str, object] | None = None

    def get_config(self) -> dict[str, int]:
        return {"size": self.size}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        instance = cls(**config)
        instance.custom_objects = custom_objects
        return instance


class ScopeWitness:
    """A plain class whose from_config has no custom_objects argument; it records the scope it ran in."""

    def __init__(self, seen: dict[str, object]) -> None:
        self.seen = seen

    @classmethod
    def from_config(cls, config):
        return cls(dict(get_custom_objects()))


# --- serialize_keras_object ----------------------------------------------------------------------


def test_serialize_an_object_with_get_config_gives_class_name_and_config():
    """An object with get_config() becomes {'class_name': its class name, 'config': its config}."""
    assert serialize_keras_object(Recorder(3)) == {"class_name": "Recorder", "config": {"size": 3}}


def test_serialize_functions_and_classes_by_name_and_none_as_none():
    """Functions and classes serialize to their __name__ (a class with get_config too); None stays None."""
    assert serialize_keras_object(np.mean) == "mean"
    assert serialize_keras_object(Recorder) == "Recorder"
    assert serialize_keras_object(keras.layers.Dense) == "Dense"
    assert serialize_keras_object(None) is None


def test_serialize_something_without_config_or_name_raises_value_error():
    """An object with neither get_config() nor __name__ raises ValueError naming it."""
    with pytest.raises(ValueError, match=r"Cannot serialize 42 \(int\)"):
        serialize_keras_object(42)


# --- deserialize_keras_object: lookup and errors --------------------------------------------------


def test_deserialize_none_returns_none():
    """identifier=None gives None (the Keras 2.2.5 behaviour)."""
    assert deserialize_keras_object(None) is None


def test_lookup_order_is_custom_objects_then_global_then_module_objects():
    """A name in several tables resolves from custom_objects first, then the global dict, then modules."""
    module_objects = {"thing": "module", "only_module": "module"}
    get_custom_objects().update({"thing": "global", "only_global": "global"})
    custom = {"thing": "custom"}

    def find(name: str) -> object:
        return deserialize_keras_object(name, module_objects=module_objects, custom_objects=custom)

    assert [find("thing"), find("only_global"), find("only_module")] == ["custom", "global", "module"]
    assert deserialize_keras_object("thing", module_objects=module_objects) == "global"


def test_a_scope_name_is_found_by_string_and_a_function_is_returned_as_is():
    """Inside a CustomObjectScope a name resolves to the object itself (functions are not called)."""

    def my_fn(x):
        return x + 1

    with CustomObjectScope({"my_fn": my_fn}):
        assert deserialize_keras_object("my_fn") is my_fn
    with pytest.raises(UnknownObjectError):
        deserialize_keras_object("my_fn")


@pytest.mark.parametrize("identifier", ["Missing", {"class_name": "Missing", "config": {}}])
def test_unknown_name_raises_value_error_naming_it(identifier):
    """An unknown name raises ValueError 'Unknown <printable_module_name>: <name>', module_objects or not."""
    with pytest.raises(ValueError, match=r"^Unknown regularizer: Missing\. ") as raised:
        deserialize_keras_object(identifier, printable_module_name="regularizer")
    assert isinstance(raised.value, UnknownObjectError)
    assert "CustomObjectScope({'Missing': ...})" in str(raised.value)


@pytest.mark.parametrize("config", [{"config": {}}, {"class_name": "Recorder"}, {}])
def test_a_config_without_class_name_or_config_raises_value_error(config):
    """A dict needs both 'class_name' and 'config'; the message shows the dict."""
    with pytest.raises(ImproperConfigError, match=r"^Improper config format: ") as raised:
        deserialize_keras_object(config, module_objects={"Recorder": Recorder})
    assert isinstance(raised.value, ValueError)
    assert repr(config) in str(raised.value)


@pytest.mark.parametrize("identifier", [42, 1.5, ["Recorder"]])
def test_an_uninterpretable_identifier_raises_value_and_type_error(identifier):
    """Another type raises a ValueError (as documented) that is also a TypeError (what 2.2.4 raised)."""
    with pytest.raises(
        UninterpretableIdentifierError, match=r"Could not interpret serialized loss"
    ) as raised:
        deserialize_keras_object(identifier, printable_module_name="loss")
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, TypeError)
    assert repr(identifier) in str(raised.value)


# --- deserialize_keras_object: how the object is rebuilt ------------------------------------------


def test_from_config_with_custom_objects_argument_gets_global_merged_with_custom():
    """from_config(config, custom_objects=...) receives the global dict updated with custom_objects."""
    get_custom_objects().update({"g": 1, "both": "global"})
    rebuilt = deserialize_keras_object(
        {"class_name": "Recorder", "config": {"size": 5}},
        module_objects={"Recorder": Recorder},
        custom_objects={"c": 2, "both": "custom"},
    )
    assert rebuilt.size == 5
    assert rebuilt.custom_objects == {"g": 1, "c": 2, "both": "custom"}


def test_from_config_without_custom_objects_argument_runs_inside_a_scope():
    """A from_config without custom_objects runs inside CustomObjectScope(custom_objects), then closed."""
    rebuilt = deserialize_keras_object(
        {"class_name": "ScopeWitness", "config": {}},
        custom_objects={"ScopeWitness": ScopeWitness, "extra": 3},
    )
    assert rebuilt.seen == {"ScopeWitness": ScopeWitness, "extra": 3}
    assert get_custom_objects() == {}


def test_a_class_without_from_config_is_called_with_the_config_as_keyword_arguments():
    """A factory (no from_config) is called as cls(**config), inside the custom objects scope."""

    def make_pair(left, right):
        return (left, right, dict(get_custom_objects()))

    made = deserialize_keras_object(
        {"class_name": "make_pair", "config": {"left": 1, "right": 2}},
        custom_objects={"make_pair": make_pair},
    )
    assert made == (1, 2, {"make_pair": make_pair})


# --- Keras 3 objects round-trip --------------------------------------------------------------------


@pytest.mark.parametrize(
    "instance",
    [
        keras.regularizers.L2(0.25),
        keras.layers.Dense(3, activation="tanh", name="round_trip_dense"),
        keras.optimizers.Adam(learning_rate=0.125),
    ],
    ids=["regularizer", "layer", "optimizer"],
)
def test_keras_3_objects_round_trip_through_module_objects(instance):
    """serialize gives {'class_name', 'config'}; deserialize with module_objects rebuilds an equal object."""
    config = serialize_keras_object(instance)
    assert config == {"class_name": type(instance).__name__, "config": instance.get_config()}
    rebuilt = deserialize_keras_object(config, module_objects={type(instance).__name__: type(instance)})
    assert type(rebuilt) is type(instance)
    assert rebuilt is not instance
    assert rebuilt.get_config() == instance.get_config()


def test_a_keras_layer_naming_a_custom_regularizer_rebuilds_with_custom_objects():
    """Names nested in a Keras 3 config (a regularizer given by name) resolve from custom_objects."""

    class MyObject(keras.regularizers.Regularizer):
        def __init__(self, scale: float = 0.01) -> None:
            self.scale = scale

        def __call__(self, x):
            return self.scale * keras.ops.sum(x)

        def get_config(self):
            return {"scale": self.scale}

    layer = keras.layers.Dense(2, kernel_regularizer=MyObject(0.5))
    config = serialize_keras_object(layer)
    if keras.__name__ == "tf_keras":
        # tf_keras does not raise for an unknown class it cannot import: it hands the name back as
        # the regularizer (serialization_lib's module_objects branch returns the string).
        unresolved = deserialize_keras_object(config, module_objects={"Dense": keras.layers.Dense})
        assert unresolved.kernel_regularizer == "MyObject"
    else:
        with pytest.raises(TypeError, match="MyObject"):
            deserialize_keras_object(config, module_objects={"Dense": keras.layers.Dense})
    rebuilt = deserialize_keras_object(
        config, module_objects={"Dense": keras.layers.Dense}, custom_objects={"MyObject": MyObject}
    )
    assert isinstance(rebuilt.kernel_regularizer, MyObject)
    assert rebuilt.kernel_regularizer.scale == 0.5
    assert get_custom_objects() == {}


def test_a_keras_model_round_trips_with_its_custom_objects():
    """A Sequential model (from_config takes custom_objects) rebuilds with a custom activation by name."""

    def tripled(x):
        return 3.0 * x

    with CustomObjectScope({"tripled": tripled}):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="tripled")])
    config = serialize_keras_object(model)
    rebuilt = deserialize_keras_object(
        config, module_objects={"Sequential": keras.Sequential}, custom_objects={"tripled": tripled}
    )
    assert rebuilt.layers[-1].activation is tripled
    rebuilt.set_weights(model.get_weights())
    x = np.array([[1.0, 2.0]], dtype="float32")
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
