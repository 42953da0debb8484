"""Lazy access to TensorFlow and to the ACTIVE Keras line, shared by the modules that need them.

kutils runs on two Keras lines:

* Keras 3 (`keras`, 3.3 from TensorFlow 2.16 to 3.15 from TensorFlow 2.21);
* tf_keras (`tf_keras` 2.16 to 2.21, the Keras 2 that TensorFlow routes
  `tf.keras` to when the environment variable `TF_USE_LEGACY_KERAS` is `1`,
  `true` or `True`; https://github.com/tensorflow/tensorflow/releases/tag/v2.16.1).

The active line is tf_keras when `TF_USE_LEGACY_KERAS` asks for it (the same
test TensorFlow makes) and tf_keras is installed, else Keras 3. A model or
layer passed in names its own line (`keras_for`), so a tf_keras model works
even without the variable.

Nothing here imports TensorFlow or Keras at module import time: `import kutils`
must stay light. Call `import_keras()` / `import_tensorflow()` inside the
function that needs them; a missing install becomes one clear `ImportError`,
and a version outside the supported range one clear error (too old) or warning
(newer than tested), on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import warnings
from types import ModuleType
from typing import Any

from .errors import MissingKerasError, UnsupportedVersionError

TF_INSTALL_HINT = 'pip install "kutils[tf]"'
LEGACY_KERAS_VARIABLE = "TF_USE_LEGACY_KERAS"
KERAS3 = "keras"
TF_KERAS = "tf_keras"

# Oldest and newest tested (major, minor) of each library, see README "Supported stacks".
SUPPORTED_VERSIONS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    KERAS3: ((3, 3), (3, 15)),
    TF_KERAS: ((2, 16), (2, 21)),
    "tensorflow": ((2, 16), (2, 21)),
}
SUPPORTED_RANGE = (
    "TensorFlow 2.16 to 2.21 with Keras 3.3 to 3.15, or with tf_keras 2.16 to 2.21 "
    f"({LEGACY_KERAS_VARIABLE}=1)"
)
_checked_versions: set[str] = set()


def legacy_keras_requested() -> bool:
    """Tells whether `TF_USE_LEGACY_KERAS` asks for tf_keras, with TensorFlow's own test."""
    return os.environ.get(LEGACY_KERAS_VARIABLE) in ("1", "true", "True")


def _installed(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


def active_line() -> str:
    """Names the active Keras line: `"tf_keras"` or `"keras"` (Keras 3).

    tf_keras when `TF_USE_LEGACY_KERAS` is `1`/`true`/`True` and tf_keras is
    installed, Keras 3 otherwise. Imports nothing.
    """
    return TF_KERAS if legacy_keras_requested() and _installed(TF_KERAS) else KERAS3


def major_minor(version: str) -> tuple[int, int] | None:
    """`"3.15.1"` -> `(3, 15)`; None if `version` does not start with two numbers."""
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def check_version(module: ModuleType) -> None:
    """Checks once per library that its version is in the supported range.

    Args:
        module: `keras`, `tf_keras` or `tensorflow`.

    Raises:
        UnsupportedVersionError: (an `ImportError`) if the version is older
            than the supported range; the message names the range.

    Warns:
        UserWarning: once, if the version is newer than tested.
    """
    name = module.__name__
    if name in _checked_versions or name not in SUPPORTED_VERSIONS:
        return
    version = str(getattr(module, "__version__", "unknown"))
    found = major_minor(version)
    oldest, newest = SUPPORTED_VERSIONS[name]
    if found is None or found < oldest:
        raise UnsupportedVersionError(
            f"kutils supports {SUPPORTED_RANGE}, but the installed {name} is {version} (needs "
            f"{name} >= {oldest[0]}.{oldest[1]}). Upgrade with: {TF_INSTALL_HINT}, or for Keras 2 "
            f'code: pip install "kutils[tf-keras]" and set {LEGACY_KERAS_VARIABLE}=1.'
        )
    _checked_versions.add(name)
    if found > newest:
        warnings.warn(
            f"kutils is tested with {SUPPORTED_RANGE}; the installed {name} {version} is newer "
            "than tested; if a kutils utility fails with it, pin the newest tested version.",
            UserWarning,
            stacklevel=3,
        )


def _import(module: str, feature: str) -> ModuleType:
    try:
        imported = importlib.import_module(module)
    except ImportError as error:
        raise MissingKerasError(
            f"{feature} needs TensorFlow and Keras, but importing {module!r} failed "
            f"({error}). Install them with: {TF_INSTALL_HINT}"
        ) from error
    check_version(imported)
    if module != "tensorflow" and "tensorflow" in sys.modules:
        check_version(sys.modules["tensorflow"])
    return imported


def import_keras(feature: str = "This kutils utility", line: str | None = None) -> ModuleType:
    """Imports and returns the module of the active Keras line: `tf_keras` or `keras`.

    Args:
        feature: What needs Keras, named in the error message.
        line: `"keras"` or `"tf_keras"` to ask for that line whatever is
            active (for a utility that exists on one line only); None: the
            active line.

    Returns:
        `tf_keras` when `TF_USE_LEGACY_KERAS=1` and tf_keras is installed,
        else `keras` (Keras 3).

    Raises:
        MissingKerasError: (an `ImportError`) if Keras cannot be imported; the
            message names `pip install "kutils[tf]"`.
        UnsupportedVersionError: (an `ImportError`) if its version is too old.
    """
    return _import(line or active_line(), feature)


def line_of(value: Any) -> str | None:
    """Names the Keras line a model, layer or class belongs to, without importing anything.

    Returns:
        `"tf_keras"`, `"keras"`, or None if `value` comes from neither.
    """
    cls = value if isinstance(value, type) else type(value)
    for base in cls.__mro__:
        root = base.__module__.partition(".")[0]
        if root in (TF_KERAS, KERAS3):
            return root
    return None


def keras_for(value: Any, feature: str = "This kutils utility") -> ModuleType:
    """Returns the Keras module `value` (a model or layer) belongs to, else the active line's.

    Args:
        value: A Keras 3 or tf_keras object, or anything else.
        feature: What needs Keras, named in the error message.

    Raises:
        MissingKerasError: If that Keras cannot be imported.
        UnsupportedVersionError: If its version is too old.
    """
    return _import(line_of(value) or active_line(), feature)


def adapter(keras: ModuleType) -> ModuleType:
    """Returns the kutils adapter module of a Keras line: `kutils._keras3` or `kutils._tf_keras`.

    Args:
        keras: The `keras` or `tf_keras` module.
    """
    name = "._tf_keras" if keras.__name__ == TF_KERAS else "._keras3"
    return importlib.import_module(name, "kutils")


def import_tensorflow(feature: str = "This kutils utility") -> ModuleType:
    """Imports and returns the `tensorflow` module.

    Args:
        feature: What needs TensorFlow, named in the error message.

    Returns:
        The `tensorflow` module.

    Raises:
        MissingKerasError: (an `ImportError`) if TensorFlow cannot be imported;
            the message names `pip install "kutils[tf]"`.
        UnsupportedVersionError: (an `ImportError`) if its version is too old.
    """
    return _import("tensorflow", feature)


def is_backend_tensor(value: Any) -> bool:
    """Tells whether `value` is a TensorFlow or Keras tensor, without importing TF.

    A tensor can only exist if its library is already imported, so the check
    looks at `sys.modules` instead of importing anything.
    """
    module = type(value).__module__
    if not module.startswith(("tensorflow", "keras", "tf_keras")):
        return False
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        if isinstance(value, tf.Tensor | tf.Variable):
            return True
    if "keras" in sys.modules and hasattr(sys.modules["keras"], "ops"):
        return bool(sys.modules["keras"].ops.is_tensor(value)) or hasattr(value, "numpy")
    return hasattr(value, "numpy")
