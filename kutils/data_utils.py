"""Keras 2.2.4 `keras.utils.data_utils` path: `from kutils.data_utils import ...` works as it did.

Names are re-exported lazily from the kutils module that defines them (see `kutils._lazy`):
the imports under `if TYPE_CHECKING:` are the list of names, for type checkers and at run time.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .download import get_file as get_file
    from .download import validate_file as validate_file
    from .enqueuers import GeneratorEnqueuer as GeneratorEnqueuer
    from .enqueuers import OrderedEnqueuer as OrderedEnqueuer
    from .enqueuers import SequenceEnqueuer as SequenceEnqueuer
    from .file_helpers import _extract_archive as _extract_archive
    from .file_helpers import _hash_file as _hash_file
    from .file_helpers import urlretrieve as urlretrieve
    from .sequence import ArraySequence as ArraySequence
    from .sequence import Sequence as Sequence
    from .sequence import iter_sequence_infinite as iter_sequence_infinite

__all__ = [
    "ArraySequence",
    "GeneratorEnqueuer",
    "OrderedEnqueuer",
    "Sequence",
    "SequenceEnqueuer",
    "_extract_archive",
    "_hash_file",
    "get_file",
    "iter_sequence_infinite",
    "urlretrieve",
    "validate_file",
]

if not TYPE_CHECKING:
    from ._lazy import lazy_exports as _lazy_exports

    __getattr__, __dir__ = _lazy_exports(__name__)

    del TYPE_CHECKING
