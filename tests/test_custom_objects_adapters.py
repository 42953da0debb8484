"""The Keras internals that kutils custom objects rely on, per Keras line: fail loudly if upstream moves one.

Each adapter (`kutils._custom_keras3`, `kutils._custom_tf_keras`) lists every attribute it
replaces or reads. These tests fail, naming the attribute, on a Keras release where one is gone
or has another type; kutils itself then warns (`RuntimeWarning`) and keeps the rest working.
"""

from __future__ import annotations

import importlib
import types

import pytest
from _keras_lines import import_line

from kutils import _keras_hook


@pytest.fixture
def adapter(keras_line: types.ModuleType) -> types.ModuleType:
    """The kutils custom-object adapter of `keras_line`."""
    return next(module for module in _keras_hook.adapters() if keras_line.__name__ == module.LINE)


def test_every_attribute_the_adapter_touches_exists_with_its_expected_type(adapter, keras_line):
    """Name tables, `Lambda.from_config` and the helpers the wrappers read are where the adapter says."""
    assert _keras_hook.missing_targets(adapter) == [], (
        f"{keras_line.__name__} {keras_line.__version__} moved what kutils custom objects rely on"
    )


def test_lambda_from_config_keeps_the_custom_objects_parameter(adapter, keras_line):
    """Keras' legacy loaders pass `custom_objects` only to a from_config whose signature names it."""
    lambda_class = keras_line.layers.Lambda
    original = vars(lambda_class)["from_config"].__func__
    assert "custom_objects" in original.__code__.co_varnames[: original.__code__.co_argcount]


def test_keras3_builds_serialized_lambdas_with_the_globals_of_python_utils():
    """The Keras 3 wrapper recognises a deserialized lambda by `__globals__` being python_utils' globals."""
    keras = import_line("keras")
    from kutils import _custom_keras3

    config = keras.layers.Lambda(lambda x: x + 1).get_config()
    rebuilt = keras.layers.Lambda.from_config(config, safe_mode=False)
    assert rebuilt.function.__globals__ is vars(_custom_keras3.lambda_globals_module())
    assert importlib.import_module("keras.src.utils.python_utils") is _custom_keras3.lambda_globals_module()
