"""Keras 2.2.4 `keras.utils.data_utils` path: `from kutils.data_utils import ...` works as it did.

Names are re-exported lazily from the kutils module that defines them.
"""

from ._lazy import lazy_exports as _lazy_exports

_EXPORTS: dict[str, str] = {
    "get_file": ".download",
    "validate_file": ".download",
    "ArraySequence": ".sequence",
    "GeneratorEnqueuer": ".enqueuers",
    "OrderedEnqueuer": ".enqueuers",
    "Sequence": ".sequence",
    "SequenceEnqueuer": ".enqueuers",
    "iter_sequence_infinite": ".sequence",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS)
