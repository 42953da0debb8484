"""The kutils error vocabulary.

Every exception kutils raises derives from `KutilsError` and also from the
builtin exception that Keras 2.2.4 raised in the same situation (`ValueError`,
`OSError`, `TypeError`, ...), so `except ValueError:` in Keras 2 code keeps
working while new code can catch `kutils.errors.KutilsError`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CacheDirError",
    "ConvArgumentError",
    "DevicePlacementError",
    "DownloadError",
    "GraphvizNotFoundError",
    "HDF5DatasetNotFoundError",
    "HDF5FileBusyError",
    "HDF5FormatError",
    "HDF5NotADatasetError",
    "HashMismatchError",
    "ImproperConfigError",
    "InvalidDataFormatError",
    "KutilsError",
    "LayerTestError",
    "MigrateDependencyError",
    "MissingKerasError",
    "ModelNotBuiltError",
    "NotAFunctionError",
    "OfflineError",
    "PydotNotFoundError",
    "RemoteTraceback",
    "StoredModelError",
    "SummaryPositionsError",
    "UninterpretableIdentifierError",
    "UnknownObjectError",
    "UnsafeArchiveError",
    "UnsupportedPlotFormatError",
    "UnsupportedVersionError",
    "WorkerDiedError",
    "WorkerError",
    "WorkerFailureError",
]


class KutilsError(Exception):
    """The common base of every exception that kutils raises."""


# --- get_file ----------------------------------------------------------------------------------


class DownloadError(KutilsError, OSError):
    """The file could not be fetched from its origin.

    Its message starts like Keras 2.2.4's `Exception('URL fetch failure on ...')`,
    so code catching `Exception` (or matching the text) keeps working.

    Attributes:
        url: The origin URL.
        path: The cache path the file was meant for.
        status: The HTTP status code, or None for network errors.
        reason: What went wrong, in words.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        path: str | None = None,
        status: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.path = path
        self.status = status
        self.reason = reason


class OfflineError(DownloadError):
    """Offline mode is on and the file is not (validly) in the cache."""


class HashMismatchError(KutilsError, ValueError):
    """A downloaded file does not have the expected hash; it was deleted, nothing was cached.

    Attributes:
        url: The origin URL.
        path: The cache path the file was meant for.
        algorithm: The hash algorithm, e.g. 'sha256'.
        expected: The expected hex digest (`file_hash`).
        actual: The hex digest of what was downloaded.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        path: str | None = None,
        algorithm: str | None = None,
        expected: str | None = None,
        actual: str | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.path = path
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual


class CacheDirError(KutilsError, PermissionError):
    """Neither the cache folder nor the temporary-folder fallback can be written.

    Attributes:
        path: The cache folder that was tried first.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class UnsafeArchiveError(KutilsError, ValueError):
    """An archive member would land outside the destination folder, or is a device file.

    Attributes:
        archive: Path of the archive.
        member: Name of the refused member, as stored in the archive.
    """

    def __init__(self, message: str, *, archive: str | None = None, member: str | None = None) -> None:
        super().__init__(message)
        self.archive = archive
        self.member = member


# --- Keras and TensorFlow ---------------------------------------------------------------------------


class MissingKerasError(KutilsError, ImportError):
    """TensorFlow / Keras is needed by the called utility but is not installed."""


class UnsupportedVersionError(KutilsError, ImportError):
    """The installed TensorFlow, Keras 3 or tf_keras is older than kutils supports.

    An `ImportError`, like a missing install: the message names the installed
    version, the supported range and the command that fixes it.
    """


# --- models -----------------------------------------------------------------------------------------


class ModelNotBuiltError(KutilsError, ValueError):
    """The model has not been built, so it has no layer graph or weights yet."""


# --- functions (generic_utils) ----------------------------------------------------------------------


class NotAFunctionError(KutilsError, TypeError, AttributeError):
    """`func_dump` got something that is not a Python function.

    Subclasses `AttributeError` too, which is what Keras 2.2.4 raised there.
    """


# --- serialization (generic_utils) ------------------------------------------------------------------


class ImproperConfigError(KutilsError, ValueError):
    """A config dict lacks its `'class_name'` or `'config'` key."""


class UnknownObjectError(KutilsError, ValueError):
    """A name is neither in `custom_objects`, the global custom objects, nor `module_objects`."""


class UninterpretableIdentifierError(KutilsError, ValueError, TypeError):
    """The identifier is neither None, a config dict nor a name.

    Subclasses `TypeError` too: Keras 2.2.4 meant to raise `ValueError` here,
    but its message building raised `TypeError` for non-string identifiers.
    """


# --- layer_ops (layer_utils) ------------------------------------------------------------------------


class InvalidDataFormatError(KutilsError, ValueError, AssertionError):
    """`target_data_format` is neither 'channels_first' nor 'channels_last' (2.2.4 asserted)."""


# --- print_summary ----------------------------------------------------------------------------------


class SummaryPositionsError(KutilsError, ValueError, IndexError):
    """`positions` does not give one column end per summary column (2.2.4 raised IndexError)."""


# --- plot_model -------------------------------------------------------------------------------------


class PydotNotFoundError(KutilsError, ImportError):
    """The `pydot` Python package, needed to build model graphs, cannot be imported."""


class GraphvizNotFoundError(KutilsError, OSError):
    """The Graphviz `dot` program, needed to render images, is not on PATH."""


class UnsupportedPlotFormatError(KutilsError, ValueError):
    """The `to_file` extension names no output format that Graphviz can write."""


# --- HDF5Matrix -------------------------------------------------------------------------------------


class HDF5FormatError(KutilsError, OSError):
    """The file exists but is not a readable HDF5 file (corrupt, truncated, another format)."""


class HDF5FileBusyError(KutilsError, OSError):
    """The file is locked or marked open for writing by another process (HDF5 file locking, SWMR)."""


class HDF5DatasetNotFoundError(KutilsError, KeyError):
    """The named dataset is not in the file (a `KeyError`, as h5py raised in Keras 2.2.4)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class HDF5NotADatasetError(KutilsError, TypeError):
    """The name points to an HDF5 group (or other object), not to a dataset."""


# --- Sequence workers and enqueuers -----------------------------------------------------------------


class WorkerDiedError(KutilsError, RuntimeError):
    """A worker process exited (crashed or was killed) while it had work to do.

    The message names the worker (its name and pid) and how it ended: its exit
    code, and the signal when a signal killed it (SIGKILL from the out-of-memory
    killer, SIGSEGV from a crash in native code, ...).
    """


class WorkerError(KutilsError, RuntimeError):
    """What a worker process raised or returned could not be rebuilt in this process.

    Raised in place of an exception whose class cannot be unpickled here (for
    example one whose `__init__` takes other arguments than its `args`), or for
    a batch whose unpickling fails.

    Attributes:
        type_name: The qualified name of the original exception's (or batch's) type.
        worker_traceback: The traceback formatted in the worker ('' for a batch).
    """

    def __init__(self, message: str, *, type_name: str = "", worker_traceback: str = "") -> None:
        super().__init__(message)
        self.type_name = type_name
        self.worker_traceback = worker_traceback

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_worker_error, (str(self), self.type_name, self.worker_traceback)


def _rebuild_worker_error(message: str, type_name: str, worker_traceback: str) -> WorkerError:
    return WorkerError(message, type_name=type_name, worker_traceback=worker_traceback)


class RemoteTraceback(KutilsError):
    """The formatted traceback of an exception raised in a worker process."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


# --- multi_gpu_model --------------------------------------------------------------------------------


class DevicePlacementError(KutilsError, ValueError):
    """The requested devices cannot hold the replicas (too few, or not present).

    A `ValueError`, as in Keras 2.2.4, so `except ValueError:` fallbacks keep working.
    """


# --- distributed_fit --------------------------------------------------------------------------------


class WorkerFailureError(KutilsError, RuntimeError):
    """A collective operation failed: a peer worker died, hung or lost its connection."""


# --- conv_utils, test_utils --------------------------------------------------------------------


class ConvArgumentError(KutilsError, ValueError):
    """A convolution argument given to a `kutils.conv_utils` helper is invalid (padding, data format, ...)."""


class LayerTestError(KutilsError, AssertionError):
    """`kutils.test_utils.layer_test` found a layer that does not behave as its test expects.

    An `AssertionError`, like the bare `assert`s of Keras 2.2.4, so test
    runners report it as a test failure.
    """


# --- kutils migrate ----------------------------------------------------------------------------


class MigrateDependencyError(KutilsError, ImportError):
    """`kutils migrate` needs libcst, which is not installed (`pip install "kutils[migrate]"`)."""


# --- kutils summary / plot ---------------------------------------------------------------------


class StoredModelError(KutilsError, ValueError):
    """A file holds no readable Keras model configuration (weights-only files, other HDF5 files)."""
