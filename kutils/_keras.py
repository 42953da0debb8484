"""Lazy access to TensorFlow and Keras 3, shared by the modules that need them.

Nothing here imports TensorFlow or Keras at module import time: `import kutils`
must stay light. Call `import_keras()` / `import_tensorflow()` inside the
function that needs them; a missing install becomes one clear `ImportError`.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

TF_INSTALL_HINT = 'pip install "kutils[tf]"'


class MissingKerasError(ImportError):
    """TensorFlow / Keras 3 is needed by the called utility but is not installed."""


def _import(module: str, feature: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingKerasError(
            f"{feature} needs TensorFlow and Keras 3, but importing {module!r} failed "
            f"({error}). Install them with: {TF_INSTALL_HINT}"
        ) from error


def import_keras(feature: str = "This kutils utility") -> ModuleType:
    """Imports and returns the `keras` (Keras 3) module.

    Args:
        feature: What needs Keras, named in the error message.

    Returns:
        The `keras` module.

    Raises:
        MissingKerasError: (an `ImportError`) if Keras cannot be imported; the
            message names `pip install "kutils[tf]"`.
    """
    return _import("keras", feature)


def import_tensorflow(feature: str = "This kutils utility") -> ModuleType:
    """Imports and returns the `tensorflow` module.

    Args:
        feature: What needs TensorFlow, named in the error message.

    Returns:
        The `tensorflow` module.

    Raises:
        MissingKerasError: (an `ImportError`) if TensorFlow cannot be imported;
            the message names `pip install "kutils[tf]"`.
    """
    return _import("tensorflow", feature)


def is_backend_tensor(value: Any) -> bool:
    """Tells whether `value` is a TensorFlow or Keras tensor, without importing TF.

    A tensor can only exist if its library is already imported, so the check
    looks at `sys.modules` instead of importing anything.
    """
    module = type(value).__module__
    if not module.startswith(("tensorflow", "keras")):
        return False
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        if isinstance(value, tf.Tensor | tf.Variable):
            return True
    if "keras" in sys.modules:
        return bool(sys.modules["keras"].ops.is_tensor(value)) or hasattr(value, "numpy")
    return False
