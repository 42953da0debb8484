"""tf_keras adapter (tf_keras 2.16 to 2.21, the Keras 2 of `TF_USE_LEGACY_KERAS=1`).

The one place for what kutils needs to know about the tf_keras line; every name
here is checked by tests/test_adapters.py, which fails loudly if tf_keras moves it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .errors import DevicePlacementError

LINE = "tf_keras"


def sequence_base(keras: ModuleType) -> type:
    """The class tf_keras `fit`/`evaluate`/`predict` accept as a Python batch source."""
    base: type = keras.utils.Sequence
    return base


def relocate_variables(model: Any, device: str) -> None:
    """tf_keras variables are `tf.Variable`s, whose storage cannot move: says what to do instead.

    Raises:
        DevicePlacementError: (a `ValueError`) always.
    """
    raise DevicePlacementError(
        f"multi_gpu_model(cpu_relocation=True) cannot move the weights of the tf_keras model "
        f"{model.name!r} onto {device}: tf_keras variables stay where they were created. Build the "
        f"template under `with tf.device({device!r}):` instead, then call multi_gpu_model(model, ...)."
    )
