"""Tests for kutils.custom_objects: Keras 2.2.4 scope semantics, the Keras 3 hook, and threads."""

from __future__ import annotations

import threading

import keras
import numpy as np
import pytest
from _custom_objects_support import clean_custom_objects, run_python  # noqa: F401  (autouse fixture)
from _keras_lines import import_line
from keras.src import activations, constraints, losses, metrics, regularizers
from keras.src.saving import object_registration

from kutils import CustomObjectScope, custom_object_scope, get_custom_objects

# Keras' own name tables, captured when this module is collected (before any test opens a scope).
BUILTIN_MODULES = (activations, constraints, losses, metrics, regularizers)
ORIGINAL_TABLES = {module.__name__: module.ALL_OBJECTS_DICT for module in BUILTIN_MODULES}
ORIGINAL_REGISTRY = object_registration.GLOBAL_CUSTOM_OBJECTS
ORIGINAL_GET_FUNCTIONS = {
    name: getattr(keras, name).get for name in ("activations", "regularizers", "losses")
}


def assert_keras_untouched() -> None:
    """Keras' name tables and get functions are the very objects they were before any scope."""
    for module in BUILTIN_MODULES:
        assert module.ALL_OBJECTS_DICT is ORIGINAL_TABLES[module.__name__]
    assert object_registration.GLOBAL_CUSTOM_OBJECTS is ORIGINAL_REGISTRY
    for name, function in ORIGINAL_GET_FUNCTIONS.items():
        assert getattr(keras, name).get is function


def make_custom_objects() -> dict[str, object]:
    """Custom Keras objects defined locally, so Keras cannot find them by importing their module."""

    class MyObject(keras.regularizers.Regularizer):
        def __init__(self, scale: float = 0.01) -> None:
            self.scale = scale

        def __call__(self, x):
            return self.scale * keras.ops.sum(keras.ops.abs(x))

        def get_config(self):
            return {"scale": self.scale}

    def doubled_relu(x):
        return keras.ops.relu(x) * 2.0

    def ones_init(shape, dtype=None):
        return keras.ops.ones(shape, dtype=dtype)

    class NonNegativeConstraint(keras.constraints.Constraint):
        def __call__(self, w):
            return keras.ops.relu(w)

    def half_mse(y_true, y_pred):
        return 0.5 * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)

    class MyOptimizer(keras.optimizers.SGD):
        pass

    class Identity(keras.layers.Layer):
        def call(self, x):
            return x

    return {
        "MyObject": MyObject,
        "doubled_relu": doubled_relu,
        "ones_init": ones_init,
        "NonNegativeConstraint": NonNegativeConstraint,
        "half_mse": half_mse,
        "MyOptimizer": MyOptimizer,
        "Identity": Identity,
    }


def build_model() -> keras.Model:
    """A small model naming every custom object by string (valid inside a scope of make_custom_objects)."""
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(
                4,
                kernel_regularizer="MyObject",
                activation="doubled_relu",
                kernel_initializer="ones_init",
                kernel_constraint="NonNegativeConstraint",
            ),
        ]
    )
    # An optimizer instance, not the string: Keras 3.3 saves `optimizer="MyOptimizer"` as a bare string
    # that its own loader turns into the class, not an instance ("Could not interpret optimizer
    # identifier"), even inside Keras' own custom_object_scope. Strings are checked by
    # test_string_identifiers_resolve_inside_the_scope.
    model.compile(optimizer=get_custom_objects()["MyOptimizer"](), loss="half_mse")
    return model


# --- Keras 2.2.4 scope semantics ---------------------------------------------------------------


def test_several_dicts_are_merged_later_ones_winning():
    """All dicts are added on entry, a later dict overriding an earlier one; all leave on exit."""
    with CustomObjectScope({"a": 1, "shared": "first"}, {"b": 2, "shared": "second"}) as scope:
        assert isinstance(scope, CustomObjectScope)
        assert get_custom_objects() == {"a": 1, "b": 2, "shared": "second"}
    assert get_custom_objects() == {}


def test_get_custom_objects_is_the_live_global_dict():
    """get_custom_objects() returns the same dict each time, and entries set there persist outside scopes."""
    objects = get_custom_objects()
    assert objects is get_custom_objects()
    objects["registered"] = 7
    with CustomObjectScope({"scoped": 8}):
        assert get_custom_objects() == {"registered": 7, "scoped": 8}
        assert get_custom_objects() is objects
    assert objects == {"registered": 7}


def test_changes_made_inside_the_block_are_reverted():
    """Adding, changing and deleting through get_custom_objects() inside a scope is undone on exit."""
    get_custom_objects().update({"kept": 1, "deleted_inside": 2})
    with custom_object_scope({"scoped": 3}):
        get_custom_objects()["added_inside"] = 4
        get_custom_objects()["kept"] = "changed"
        del get_custom_objects()["deleted_inside"]
    assert get_custom_objects() == {"kept": 1, "deleted_inside": 2}


def test_nested_scopes_add_to_the_outer_one():
    """An inner scope sees the outer scope's names; its exit brings back the outer state exactly."""
    with CustomObjectScope({"outer": 1, "both": "outer"}):
        with CustomObjectScope({"inner": 2, "both": "inner"}):
            assert get_custom_objects() == {"outer": 1, "inner": 2, "both": "inner"}
        assert get_custom_objects() == {"outer": 1, "both": "outer"}
    assert get_custom_objects() == {}


def test_state_is_restored_when_the_block_raises():
    """The exception propagates and the previous state comes back."""
    get_custom_objects()["before"] = 0

    def fail_inside_scope() -> None:
        with CustomObjectScope({"x": 1}):
            get_custom_objects()["y"] = 2
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        fail_inside_scope()
    assert get_custom_objects() == {"before": 0}


def test_custom_object_scope_returns_a_scope_and_accepts_none_and_no_args():
    """custom_object_scope(*dicts) builds a CustomObjectScope; None and no argument mean no names."""
    scope = custom_object_scope(None, {"a": 1})
    assert isinstance(scope, CustomObjectScope)
    with scope, custom_object_scope():
        assert get_custom_objects() == {"a": 1}
    assert "a" in repr(scope)


def test_the_same_scope_object_can_be_entered_twice():
    """Re-entering one scope object nests properly: each exit undoes its own entry."""
    scope = CustomObjectScope({"a": 1})
    with scope:
        get_custom_objects()["between"] = 2
        with scope:
            get_custom_objects()["inner"] = 3
        assert get_custom_objects() == {"a": 1, "between": 2}
    assert get_custom_objects() == {}


@pytest.mark.parametrize(("argument", "named"), [([("a", 1)], "list"), (5, "int"), ("name", "str")])
def test_a_non_dict_argument_raises_type_error(argument, named):
    """A scope argument that is not a dict is refused at construction, naming its position and type."""
    with pytest.raises(TypeError, match=rf"argument 1 must be a dict.*got {named}"):
        CustomObjectScope({}, argument)


def test_a_non_string_key_raises_type_error():
    """Names must be strings; the message shows the bad key."""
    with pytest.raises(TypeError, match=r"key 42 \(int\)"):
        CustomObjectScope({42: object()})


def test_exiting_a_scope_that_was_not_entered_raises_and_changes_nothing():
    """__exit__ without __enter__ raises RuntimeError instead of wiping the global dict (2.2.4 did)."""
    get_custom_objects()["kept"] = 1
    scope = CustomObjectScope({"a": 1})
    with pytest.raises(RuntimeError, match="was not entered"):
        scope.__exit__(None, None, None)
    assert get_custom_objects() == {"kept": 1}


# --- Threads -------------------------------------------------------------------------------------


def run_in_thread(target) -> None:
    """Runs `target` in a real thread, re-raising its exception here."""
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            target()
        except BaseException as error:  # re-raised in the caller
            errors.append(error)

    thread = threading.Thread(target=guarded)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


def test_other_threads_see_an_open_scope_process_global():
    """Like Keras 2.2.4, a scope's names are visible in other threads while it is open, and not after."""
    seen: list[dict[str, object]] = []
    with CustomObjectScope({"a": 1}):
        run_in_thread(lambda: seen.append(dict(get_custom_objects())))
    run_in_thread(lambda: seen.append(dict(get_custom_objects())))
    assert seen == [{"a": 1}, {}]


def test_overlapping_scopes_in_two_threads_each_take_back_only_their_names():
    """A enters, B enters, A exits, B exits: A's exit keeps B's names and B's exit does not revive A's."""
    a_entered, b_entered, a_exited = threading.Event(), threading.Event(), threading.Event()
    snapshots: dict[str, dict[str, object]] = {}

    def thread_b() -> None:
        a_entered.wait(60)
        with CustomObjectScope({"b": 2, "shared": "b"}):
            b_entered.set()
            a_exited.wait(60)
            snapshots["b after a exited"] = dict(get_custom_objects())

    worker = threading.Thread(target=thread_b)
    worker.start()
    with CustomObjectScope({"a": 1, "shared": "a"}):
        a_entered.set()
        b_entered.wait(60)
        snapshots["both open"] = dict(get_custom_objects())
    a_exited.set()
    worker.join(60)
    assert snapshots == {
        "both open": {"a": 1, "b": 2, "shared": "b"},
        "b after a exited": {"b": 2, "shared": "b"},
    }
    assert get_custom_objects() == {}
    assert_keras_untouched()


# --- Keras 3 resolves names from the scope -------------------------------------------------------


def test_string_identifiers_resolve_inside_the_scope():
    """Dense(..., kernel_regularizer='MyObject') and the other string arguments get the custom objects."""
    objects = make_custom_objects()
    with CustomObjectScope(objects):
        layer = keras.layers.Dense(4, kernel_regularizer="MyObject", activation="doubled_relu")
        assert isinstance(layer.kernel_regularizer, objects["MyObject"])
        assert layer.activation is objects["doubled_relu"]
        assert keras.initializers.get("ones_init") is objects["ones_init"]
        assert isinstance(keras.constraints.get("NonNegativeConstraint"), objects["NonNegativeConstraint"])
        assert keras.losses.get("half_mse") is objects["half_mse"]
        assert keras.metrics.get("half_mse") is objects["half_mse"]
        assert isinstance(keras.optimizers.get("MyOptimizer"), objects["MyOptimizer"])
    assert_keras_untouched()


def test_outside_the_scope_keras_is_plain_keras_again():
    """After the scope, Dense(..., kernel_regularizer='MyObject') fails exactly as plain Keras 3 does."""
    with pytest.raises(ValueError, match="MyObject") as before:
        keras.layers.Dense(4, kernel_regularizer="MyObject")
    with CustomObjectScope(make_custom_objects()):
        keras.layers.Dense(4, kernel_regularizer="MyObject")
    with pytest.raises(ValueError, match="MyObject") as after:
        keras.layers.Dense(4, kernel_regularizer="MyObject")
    assert str(after.value) == str(before.value) == "Could not interpret regularizer identifier: MyObject"
    assert_keras_untouched()


def test_scope_names_take_precedence_over_keras_built_ins_like_2_2_4():
    """Keras 2.2.4 looked custom objects up before built-ins; 'relu' in a scope is the custom one."""

    def my_relu(x):
        return x

    with CustomObjectScope({"relu": my_relu}):
        assert keras.activations.get("relu") is my_relu
    assert keras.activations.get("relu") is keras.activations.relu
    get_custom_objects()["kept"] = my_relu  # the hook stays: the built-in comes back name by name
    get_custom_objects()["relu"] = my_relu
    assert keras.activations.get("relu") is my_relu
    del get_custom_objects()["relu"]
    assert keras.activations.get("relu") is keras.activations.relu
    assert keras.activations.get("kept") is my_relu


def test_keras_deserialize_keras_object_resolves_scope_names():
    """keras.saving.deserialize_keras_object finds a class named only in the kutils scope."""
    objects = make_custom_objects()
    config = {"class_name": "MyObject", "config": {"scale": 0.5}}
    with CustomObjectScope(objects):
        regularizer = keras.saving.deserialize_keras_object(config)
    assert isinstance(regularizer, objects["MyObject"])
    assert regularizer.scale == 0.5
    with pytest.raises(TypeError, match="MyObject"):
        keras.saving.deserialize_keras_object(config)


def test_layer_deserialize_and_model_from_json_resolve_scope_names():
    """keras.layers.deserialize and keras.models.model_from_json find a custom layer by name."""
    objects = make_custom_objects()
    with CustomObjectScope(objects):
        model = keras.Sequential([keras.Input((2,)), objects["Identity"]()])
        assert isinstance(
            keras.layers.deserialize({"class_name": "Identity", "config": {}}), objects["Identity"]
        )
        rebuilt = keras.models.model_from_json(model.to_json())
    assert isinstance(rebuilt.layers[-1], objects["Identity"])


def test_names_registered_with_get_custom_objects_reach_keras_through_an_empty_scope():
    """Entries of get_custom_objects() are visible to Keras while any scope is open, also added mid-scope."""
    objects = make_custom_objects()
    get_custom_objects()["MyObject"] = objects["MyObject"]
    with CustomObjectScope():
        assert isinstance(keras.regularizers.get("MyObject"), objects["MyObject"])
        get_custom_objects()["doubled_relu"] = objects["doubled_relu"]
        assert keras.activations.get("doubled_relu") is objects["doubled_relu"]


def test_names_registered_with_get_custom_objects_reach_keras_outside_any_scope():
    """Like Keras 2.2.4, a name set in get_custom_objects() is resolved by Keras with no scope open.

    Before, Keras 3 saw the kutils dict only inside a scope: `regularizers.get('MyObject')` raised
    "Could not interpret regularizer identifier". Removing the name removes it from Keras; once the
    dict is empty, Keras' tables are its original objects again.
    """
    objects = make_custom_objects()
    get_custom_objects()["MyObject"] = objects["MyObject"]
    get_custom_objects().update(doubled_relu=objects["doubled_relu"])
    assert isinstance(keras.regularizers.get("MyObject"), objects["MyObject"])
    layer = keras.layers.Dense(2, activation="doubled_relu", kernel_regularizer="MyObject")
    assert layer.activation is objects["doubled_relu"]
    assert keras.saving.get_custom_objects()["MyObject"] is objects["MyObject"]
    del get_custom_objects()["MyObject"]
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier: MyObject"):
        keras.regularizers.get("MyObject")
    assert keras.activations.get("doubled_relu") is objects["doubled_relu"]
    get_custom_objects().pop("doubled_relu")
    with pytest.raises(ValueError, match="doubled_relu"):
        keras.activations.get("doubled_relu")
    assert_keras_untouched()


def test_nested_scopes_reach_keras_and_the_hook_lasts_until_the_outermost_exit():
    """Inner names reach Keras only while the inner scope is open; outer names until the outer exit."""
    objects = make_custom_objects()
    with CustomObjectScope({"MyObject": objects["MyObject"]}):
        with CustomObjectScope({"doubled_relu": objects["doubled_relu"]}):
            assert keras.activations.get("doubled_relu") is objects["doubled_relu"]
        with pytest.raises(ValueError, match="doubled_relu"):
            keras.activations.get("doubled_relu")
        assert isinstance(keras.regularizers.get("MyObject"), objects["MyObject"])
    assert_keras_untouched()


def test_another_thread_resolves_keras_names_while_a_scope_is_open():
    """The Keras hook is process-global like the dict: a worker thread builds a layer by name."""
    objects = make_custom_objects()
    built: list[object] = []
    with CustomObjectScope(objects):
        run_in_thread(lambda: built.append(keras.layers.Dense(2, kernel_regularizer="MyObject")))
    assert isinstance(built[0].kernel_regularizer, objects["MyObject"])


def test_keras_registrations_made_inside_a_scope_are_kept():
    """register_keras_serializable inside a kutils scope writes into Keras' own registry, which survives."""

    class Registered(keras.layers.Layer):
        pass

    with CustomObjectScope({"a": 1}):
        keras.saving.register_keras_serializable(package="kutils_test")(Registered)
    assert keras.saving.get_custom_objects()["kutils_test>Registered"] is Registered
    del keras.saving.get_custom_objects()["kutils_test>Registered"]
    assert "a" not in keras.saving.get_custom_objects()


@pytest.mark.parametrize("file_name", ["my model.keras", "my model.h5"])
def test_build_save_and_load_a_model_by_name_inside_the_scope(tmp_path, file_name):
    """Build with string names, save (.keras and .h5), load by name in the scope.

    The example of https://keras.io/ja/utils/#customobjectscope.
    """
    objects = make_custom_objects()
    path = tmp_path / file_name
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3)
    with CustomObjectScope(objects):
        model = build_model()
        model.save(path)
        expected = model.predict(x, verbose=0)
        loaded = keras.models.load_model(path)
    dense = loaded.layers[-1]
    assert isinstance(dense.kernel_regularizer, objects["MyObject"])
    assert dense.activation is objects["doubled_relu"]
    assert isinstance(dense.kernel_constraint, objects["NonNegativeConstraint"])
    assert isinstance(loaded.optimizer, objects["MyOptimizer"])
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(expected, 2 * np.maximum(x.sum(axis=1, keepdims=True), 0).repeat(4, axis=1))
    with pytest.raises((TypeError, ValueError), match=r"MyObject|doubled_relu"):
        keras.models.load_model(path)
    assert_keras_untouched()


def test_a_keras_without_the_expected_tables_warns_and_still_hooks_the_rest(monkeypatch):
    """If a Keras version lacks a name table, entering a scope warns naming it; other names still work."""
    objects = make_custom_objects()
    monkeypatch.delattr(activations, "ALL_OBJECTS_DICT")
    scope = CustomObjectScope(objects)
    with pytest.warns(RuntimeWarning, match=r"keras\.src\.activations\.ALL_OBJECTS_DICT"):
        scope.__enter__()
    try:
        assert isinstance(keras.regularizers.get("MyObject"), objects["MyObject"])
    finally:
        scope.__exit__(None, None, None)
    assert regularizers.ALL_OBJECTS_DICT is ORIGINAL_TABLES[regularizers.__name__]


def test_without_keras_the_scope_is_a_plain_dict_scope():
    """With keras not importable, scopes and kutils deserialization work and TensorFlow is never imported."""
    result = run_python(
        "import sys\n"
        "sys.modules['keras'] = sys.modules['tf_keras'] = None  # as if no Keras line were installed\n"
        "from kutils import CustomObjectScope, deserialize_keras_object, get_custom_objects\n"
        "class Thing:\n"
        "    def __init__(self, size): self.size = size\n"
        "    @classmethod\n"
        "    def from_config(cls, config): return cls(**config)\n"
        "with CustomObjectScope({'Thing': Thing}):\n"
        "    thing = deserialize_keras_object({'class_name': 'Thing', 'config': {'size': 3}})\n"
        "print(thing.size, get_custom_objects(), 'tensorflow' in sys.modules)\n"
    )
    assert result.stdout.split() == ["3", "{}", "False"]


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_importing_the_module_does_not_import_keras_but_entering_a_scope_does():
    """`kutils.custom_objects` is light; the active Keras line is imported only when a scope is entered."""
    result = run_python(
        "import sys\n"
        "from kutils import CustomObjectScope\n"
        "from kutils._keras import active_line\n"
        "print(active_line() in sys.modules)\n"
        "with CustomObjectScope({'a': 1}):\n"
        "    print(active_line() in sys.modules)\n"
    )
    assert result.stdout.split() == ["False", "True"]


@pytest.mark.parametrize(
    ("change", "resolved_after"),
    [
        (lambda table, f: table.__setitem__("fn", f), True),
        (lambda table, f: table.update(fn=f), True),
        (lambda table, f: table.setdefault("fn", f), True),
        (lambda table, f: table.__ior__({"fn": f}), True),
        (lambda table, f: (table.__setitem__("fn", f), table.pop("fn")), False),
        (lambda table, f: (table.__setitem__("fn", f), table.popitem()), False),
        (lambda table, f: (table.__setitem__("fn", f), table.clear()), False),
        (lambda table, f: (table.__setitem__("fn", f), table.__delitem__("fn")), False),
    ],
    ids=["setitem", "update", "setdefault", "ior", "pop", "popitem", "clear", "delitem"],
)
def test_every_way_of_changing_the_global_table_reaches_keras(change, resolved_after):
    """Each dict method on get_custom_objects() adds or removes the name in Keras at once."""

    def fn(x):
        return x

    change(get_custom_objects(), fn)
    if resolved_after:
        assert keras.activations.get("fn") is fn
    else:
        with pytest.raises(ValueError, match="fn"):
            keras.activations.get("fn")
        assert_keras_untouched()


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_a_keras_line_imported_later_sees_the_table_after_the_next_change():
    """tf_keras imported after the hook was installed for Keras 3 is hooked at the next table change."""
    import_line("tf_keras")
    result = run_python(
        "import os\n"
        "os.environ.pop('TF_USE_LEGACY_KERAS', None)\n"
        "import keras\n"
        "from kutils import get_custom_objects, CustomObjectScope\n"
        "def my_act(x): return x\n"
        "get_custom_objects()['my_act'] = my_act\n"
        "import tf_keras\n"
        "with CustomObjectScope():\n"
        "    print(tf_keras.activations.get('my_act') is my_act)\n"
        "get_custom_objects()['other'] = my_act\n"
        "print(tf_keras.activations.get('my_act') is my_act, keras.activations.get('my_act') is my_act)\n"
    )
    assert result.stdout.split() == ["True", "True", "True"]
