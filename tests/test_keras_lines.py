"""Which Keras line kutils uses (Keras 3 or tf_keras), the supported version range, and the per-line adapters.

The adapter tests touch the real upstream names through `kutils._keras3` and
`kutils._tf_keras`: if Keras or tf_keras moves one, they fail here by name.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import types
import warnings

import numpy as np
import pytest
from _keras_lines import import_line

from kutils import _keras
from kutils._keras import SUPPORTED_RANGE, adapter, check_version, import_keras, keras_for, line_of
from kutils.errors import DevicePlacementError, KutilsError, UnsupportedVersionError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "keras"),
        ("0", "keras"),
        ("false", "keras"),
        ("yes", "keras"),
        *[(value, "tf_keras") for value in ("1", "true", "True")],
    ],
)
def test_active_line_follows_tensorflows_own_test_of_the_variable(monkeypatch, value, expected):
    """TF_USE_LEGACY_KERAS=1/true/True selects tf_keras (when installed); unset or anything else: Keras 3."""
    if value is None:
        monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    else:
        monkeypatch.setenv("TF_USE_LEGACY_KERAS", value)
    assert _keras.active_line() == expected


@pytest.mark.slow
def test_import_keras_returns_tf_keras_under_the_variable():
    """In a fresh process with TF_USE_LEGACY_KERAS=1, import_keras() is tf_keras, as tf.keras is."""
    code = (
        "import tensorflow as tf; from kutils._keras import import_keras as k; "
        "print(k().Model is tf.keras.Model, k().__name__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "TF_USE_LEGACY_KERAS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    assert done.stdout.split()[-2:] == ["True", "tf_keras"], done.stderr


def test_line_of_names_the_line_of_objects_and_classes():
    """line_of looks at the defining modules along the MRO and imports nothing."""
    keras = import_keras()
    layer = keras.layers.Dense(1)

    class UserLayer(keras.layers.Dense):
        pass

    assert line_of(layer) == keras.__name__
    assert line_of(UserLayer) == keras.__name__
    assert line_of(np.zeros(1)) is None
    assert keras_for(np.zeros(1)) is keras
    assert keras_for(UserLayer(1)) is keras


def test_a_tf_keras_model_names_tf_keras_even_on_keras3():
    """A tf_keras model passed in (tf_keras imported directly) gets tf_keras, whatever the active line."""
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((2,)), tf_keras.layers.Dense(1)])
    assert line_of(model) == "tf_keras"
    assert keras_for(model) is tf_keras


def _fake(name: str, version: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__version__ = version  # type: ignore[attr-defined]
    return module


@pytest.fixture
def fresh_version_checks(monkeypatch):
    monkeypatch.setattr(_keras, "_checked_versions", set())


@pytest.mark.usefixtures("fresh_version_checks")
@pytest.mark.parametrize(
    ("name", "version"),
    [("keras", "2.15.0"), ("tensorflow", "2.15.1"), ("tf_keras", "2.15.0"), ("keras", "3.2.1")],
)
def test_too_old_a_version_gets_one_clear_error_naming_the_range(name, version):
    """Keras 2.15 as `keras`, TF 2.15, tf_keras 2.15: an ImportError naming the range and the fix."""
    with pytest.raises(UnsupportedVersionError) as raised:
        check_version(_fake(name, version))
    message = str(raised.value)
    assert isinstance(raised.value, ImportError)
    assert isinstance(raised.value, KutilsError)
    assert SUPPORTED_RANGE in message
    assert f"{name} is {version}" in message
    assert 'pip install "kutils[tf]"' in message


@pytest.mark.usefixtures("fresh_version_checks")
def test_newer_than_tested_warns_once():
    """Keras 3.99: one UserWarning naming the tested range, then silence."""
    with pytest.warns(UserWarning, match="3.99.0 is newer than tested") as caught:
        check_version(_fake("keras", "3.99.0"))
    assert SUPPORTED_RANGE in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_version(_fake("keras", "3.99.0"))


@pytest.mark.usefixtures("fresh_version_checks")
def test_installed_versions_are_in_the_supported_range():
    """The stack this suite runs on passes the check without a warning (the range covers it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        keras = import_keras()
        _keras.import_tensorflow()
    assert keras.__name__ in ("keras", "tf_keras")


@pytest.mark.slow
def test_unsupported_keras_at_first_use_of_a_utility():
    """A Keras 2.15 `keras` module: first use of Sequence fails with the range, not an AttributeError."""
    code = textwrap.dedent(
        """
        import sys, types
        fake = types.ModuleType("keras"); fake.__version__ = "2.15.0"
        sys.modules["keras"] = fake
        import kutils
        try:
            kutils.Sequence
        except ImportError as error:
            print(type(error).__name__, error)
        """
    )
    env = {key: value for key, value in os.environ.items() if key != "TF_USE_LEGACY_KERAS"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600, check=True
    )
    expected = "UnsupportedVersionError kutils supports TensorFlow 2.16 to 2.21"
    assert done.stdout.startswith(expected), done.stdout


# -- adapters: each fails here by name if upstream moves what it touches ----------------------------------


def _lines() -> list:
    return [pytest.param("keras", id="keras3"), pytest.param("tf_keras", id="tf_keras")]


@pytest.mark.parametrize("line", _lines())
def test_adapter_sequence_base_is_what_fit_and_predict_accept(line):
    """sequence_base(keras) is a class whose subclasses that line's fit/predict read batches from."""
    keras = import_line(line)
    line_adapter = adapter(keras)
    assert line == line_adapter.LINE
    base = line_adapter.sequence_base(keras)

    class Batches(base):  # type: ignore[misc, valid-type]
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return np.full((3, 2), index, "float32"), np.ones((3, 1), "float32")

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(Batches(), epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1
    assert model.predict(Batches(), verbose=0).shape == (6, 1)


def test_distributed_fit_on_a_tf_keras_model_names_what_to_use():
    """distributed_fit trains Keras 3 models; a tf_keras one gets a TypeError pointing to model.fit."""
    import tf_keras

    from kutils import distributed_fit

    model = tf_keras.Sequential([tf_keras.Input((2,)), tf_keras.layers.Dense(1)], name="legacy")
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((4, 2), "float32")
    with pytest.raises(TypeError, match=r"'legacy' is a tf_keras model.*strategy.scope\(\).*model.fit"):
        distributed_fit(model, x, x[:, :1], batch_size=2)


def test_adapter_relocate_variables_keeps_objects_and_values_or_says_why_not():
    """Keras 3: the private Variable._initialize still swaps the storage; tf_keras: a clear refusal."""
    keras = import_keras()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    variables, values = list(model.variables), model.get_weights()
    if keras.__name__ == "tf_keras":
        with pytest.raises(DevicePlacementError, match=r"with tf.device\('/cpu:0'\)"):
            adapter(keras).relocate_variables(model, "/cpu:0")
        return
    backing = [variable.value for variable in variables]
    adapter(keras).relocate_variables(model, "/cpu:0")
    assert list(model.variables) == variables
    assert all(variable.value is not old for variable, old in zip(variables, backing, strict=True))
    for new, old in zip(model.get_weights(), values, strict=True):
        np.testing.assert_array_equal(new, old)


def test_adapter_compute_loss_passes_training_only_where_accepted():
    """compute_loss is called with `training` if the model's signature takes it, without it otherwise."""
    from kutils import _keras3

    keras = importlib.import_module("keras")
    seen: list[dict] = []

    class Recording(keras.Sequential):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):  # a Keras 3.3 signature
            seen.append({"x": x, "y": y})
            return keras.ops.mean(y_pred)

    model = Recording([keras.Input((2,)), keras.layers.Dense(1)])
    x = np.ones((4, 2), "float32")
    loss = _keras3.compute_loss(model, x, x[:, :1], model(x), None, training=True)
    assert seen
    assert float(loss) == pytest.approx(float(keras.ops.mean(model(x))))


def test_tf_keras_fit_shuffle_batch_scrambles_labels_upstream():
    """The upstream bug docs/hdf5.md warns about: tf_keras' `fit(shuffle='batch')` permutes the rows of x
    and of y inside a batch with different permutations. If this fails, tf_keras fixed it: drop the
    warning from docs/hdf5.md."""
    import_line("tf_keras")
    from tf_keras.src.engine import data_adapter

    x = np.arange(64, dtype="float32").reshape(-1, 1)
    handler = data_adapter.DataHandler(x, x.copy(), batch_size=16, shuffle="batch", epochs=1)
    scrambled = 0
    for _, iterator in handler.enumerate_epochs():
        for _ in handler.steps():
            batch_x, batch_y = next(iterator)
            assert sorted(batch_x.numpy().ravel()) == sorted(batch_y.numpy().ravel())  # the same rows...
            scrambled += int((batch_x.numpy() != batch_y.numpy()).any())  # ...in another order
    assert scrambled > 0
