"""What a type checker sees of kutils: checked by `mypy --strict` and pyright, never run.

Each `assert_type` states the static type of a public name reached the way user
code reaches it: `kutils.X`, `from kutils import X`, and the Keras 2 module paths
(`kutils.np_utils.X`, `from kutils.utils.generic_utils import X`, ...). If the lazy
re-exports hid a name again, these would be `Any` and the checkers would fail.
Run by `tox -e types` and by tests/test_typing.py.
"""

from __future__ import annotations

import os
from email.message import Message
from typing import Any, assert_type

import numpy as np

import kutils
import kutils.utils
from kutils import (
    ArraySequence,
    CustomObjectScope,
    DownloadError,
    HDF5Matrix,
    KutilsError,
    OrderedEnqueuer,
    Progbar,
    Sequence,
    get_file,
    to_categorical,
)
from kutils.data_utils import urlretrieve
from kutils.errors import HashMismatchError
from kutils.generic_utils import func_dump, has_arg, to_list
from kutils.io_utils import ask_to_proceed_with_overwrite
from kutils.layer_utils import count_params
from kutils.np_utils import normalize
from kutils.summary import ModelSummary
from kutils.utils.np_utils import to_categorical as utils_to_categorical


def array_functions(labels: list[int]) -> None:
    assert_type(kutils.to_categorical(labels), np.ndarray)
    assert_type(to_categorical(labels, 3, dtype="int8"), np.ndarray)
    assert_type(kutils.np_utils.to_categorical(labels), np.ndarray)
    assert_type(utils_to_categorical(labels), np.ndarray)
    assert_type(kutils.utils.to_categorical(labels), np.ndarray)
    assert_type(normalize([[3.0, 4.0]], axis=-1, order=2), np.ndarray)
    assert_type(to_list(labels), list[Any])


def downloads(folder: os.PathLike[str]) -> None:
    assert_type(get_file("a.npz", "https://example.com/a.npz", cache_dir=folder), str)
    assert_type(kutils.data_utils.get_file(None, "https://example.com/a.npz"), str)
    assert_type(kutils.validate_file("a.npz", "0" * 64), bool)
    assert_type(urlretrieve("https://example.com/a.npz"), tuple[str, Message])
    assert_type(ask_to_proceed_with_overwrite("model.h5"), bool)


def errors(error: Exception) -> None:
    if isinstance(error, DownloadError):
        assert_type(error.status, int | None)
        assert_type(error.url, str | None)
    if isinstance(error, HashMismatchError):
        assert_type(error.expected, str | None)
    assert_type(kutils.errors.KutilsError, type[KutilsError])
    assert_type(kutils.OfflineError("offline"), kutils.errors.OfflineError)


def classes(path: str) -> None:
    matrix = HDF5Matrix(path, "features", start=0, end=10)
    assert_type(matrix, HDF5Matrix)
    assert_type(len(matrix), int)
    assert_type(matrix.shape, tuple[int, ...])
    assert_type(kutils.io_utils.HDF5Matrix, type[HDF5Matrix])
    assert_type(kutils.ArraySequence, type[ArraySequence])
    assert_type(kutils.data_utils.Sequence, type[Sequence])
    assert_type(kutils.OrderedEnqueuer, type[OrderedEnqueuer])
    assert_type(Progbar(10), Progbar)
    assert_type(kutils.generic_utils.CustomObjectScope({}), CustomObjectScope)
    assert_type(kutils.get_custom_objects(), dict[str, Any])


def model_utilities(model: Any, weights: list[Any]) -> None:
    assert_type(count_params(weights), int)
    assert_type(kutils.print_summary(model, print_fn=print), ModelSummary)
    assert_type(kutils.layer_utils.print_summary(model), ModelSummary)
    assert_type(kutils.conv_utils.conv_output_length(10, 3, "valid", 1), int | None)
    assert_type(kutils.conv_utils.normalize_tuple(3, 2, "kernel_size"), tuple[int, ...])


def function_helpers() -> None:
    assert_type(has_arg(print, "sep"), bool)
    assert_type(func_dump(len)[0], str)
