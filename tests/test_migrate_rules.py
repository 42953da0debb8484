"""The facts behind `kutils migrate`'s tables, checked against the installed Keras 3 and kutils.

If an upstream Keras 3 release moves one of them (exports a name again, drops a
backend function, ...), a test here fails and names the table to update.
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest
from _keras_lines import import_line

from kutils import _migrate_rules as rules
from kutils._migrate_imports import catalog_from_package


@pytest.fixture(scope="module")
def keras():
    """Keras 3 itself: the package `keras` is Keras 3 on every stack, TF_USE_LEGACY_KERAS or not."""
    return import_line("keras")


def _public(module) -> set[str]:
    return {name for name in dir(module) if not name.startswith("_")}


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


@pytest.mark.slow  # resolving every name imports TensorFlow
def test_the_catalog_is_read_from_the_package():
    import kutils

    catalog = catalog_from_package()
    assert catalog.top_level == frozenset(kutils.__all__)
    for module, names in catalog.submodules.items():
        assert names == frozenset(importlib.import_module(f"kutils.{module}").__all__)
        for name in names:
            assert getattr(importlib.import_module(f"kutils.{module}"), name) is not None
    # The Keras 2.2.4 path modules kutils has today, including the ones added after this command.
    assert {"np_utils", "generic_utils", "data_utils", "io_utils", "layer_utils", "vis_utils"} <= set(
        catalog.submodules
    )
    assert (
        catalog.target("keras.utils.training_utils.multi_gpu_model")
        == "kutils.multi_gpu_utils.multi_gpu_model"
    )
    assert catalog.target("keras.utils.pad_sequences") is None


def test_kept_names_are_the_ones_keras3_still_exports(keras):
    catalog = catalog_from_package()
    exported = _public(keras.utils)
    assert set(rules.KERAS3_UTILS_KEPT) <= exported
    assert not (catalog.top_level - set(rules.KERAS3_UTILS_KEPT)) & exported


def test_keras3_has_none_of_the_keras2_utils_path_modules():
    for module in [*catalog_from_package().submodules, *rules.KERAS20_SUBMODULE_HOMES]:
        assert not _importable(f"keras.utils.{module}"), module


def test_changed_names_do_change_in_keras3(keras):
    assert "dtype" not in inspect.signature(keras.utils.to_categorical).parameters
    assert keras.utils.to_categorical(np.array([0, 1])).dtype == np.float64
    assert inspect.signature(keras.utils.Progbar).parameters["width"].default == 20
    assert inspect.signature(keras.utils.plot_model).parameters["show_layer_names"].default is False


def test_backend_table_matches_keras3(keras):
    assert _public(keras.backend) == rules.KERAS3_BACKEND
    assert _public(keras.ops) >= rules.OPS_NAMESAKES
    assert not set(rules.BACKEND_REPLACEMENTS) & rules.KERAS3_BACKEND
    assert not rules.KERAS2_BACKEND_SESSION & rules.KERAS3_BACKEND


def test_layer_tables_match_keras3(keras):
    layers = _public(keras.layers)
    assert not set(rules.LAYERS_RENAMED) & layers
    assert set(rules.LAYERS_RENAMED.values()) <= layers
    assert not set(rules.LAYERS_REMOVED) & layers
    for module in rules.KERAS2_LAYER_SUBMODULES:
        assert not _importable(f"keras.layers.{module}"), module
    for home in filter(None, rules.KERAS_ENGINE_NAMES.values()):
        package, _, name = home.rpartition(".")
        assert hasattr(importlib.import_module(package), name), home


def test_removed_modules_are_gone_from_keras3():
    for module in (
        "keras.engine",
        "keras.objectives",
        "keras.wrappers.scikit_learn",
        "keras.preprocessing.text",
    ):
        assert not _importable(module), module
    assert not hasattr(importlib.import_module("keras.preprocessing.image"), "ImageDataGenerator")


def test_the_reported_keras3_errors_happen(keras, tmp_path):
    with pytest.raises(ValueError, match="lr"):
        keras.optimizers.Adam(lr=0.1)
    with pytest.warns(UserWarning, match="negative_slope"):
        keras.layers.LeakyReLU(alpha=0.1)
    inputs = keras.Input((2,))
    outputs = keras.layers.Dense(1)(inputs)
    with pytest.raises(ValueError, match="Unrecognized keyword arguments"):
        keras.Model(input=inputs, output=outputs)
    model = keras.Model(inputs, outputs)
    for method in ("fit_generator", "evaluate_generator", "predict_generator", "predict_classes"):
        assert not hasattr(model, method), method
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        model.save_weights(str(tmp_path / "weights.h5"))
    model.compile("sgd", "mse")
    with pytest.raises(TypeError):
        model.fit(np.zeros((2, 2)), np.zeros((2, 1)), workers=2, verbose=0)
