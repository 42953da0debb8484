"""Opening an HDF5 file read-only and finding a dataset in it, for `kutils.HDF5Matrix`.

h5py reports one fault in many shapes: a damaged file can surface as
`OSError`, `KeyError`, `RuntimeError`, `ValueError` or `AttributeError`
depending on which structure is broken and when it is read. Here every
failure becomes the documented kutils error: a name that leads nowhere (absent,
dangling soft link, external link to a missing file) is
`HDF5DatasetNotFoundError` listing the datasets; a name of something else (a
group, a committed datatype, a scalar) is `HDF5NotADatasetError`; anything
else h5py raises while opening, looking up or reading is `HDF5FormatError`.
"""

from __future__ import annotations

import os
from typing import Any

import h5py

from .errors import (
    HDF5DatasetNotFoundError,
    HDF5FileBusyError,
    HDF5FormatError,
    HDF5NotADatasetError,
    KutilsError,
)

__all__ = ["H5pyFaults", "lookup_dataset", "open_read_only"]

_MAX_LISTED_DATASETS = 20

# What HDF5 says when another process holds the file open for writing (a lock, or SWMR/consistency flags).
_BUSY_SIGNS = ("unable to lock file", "already open for write")

# What h5py raises for a damaged, truncated or rewritten file, depending on where the damage shows.
_H5PY_FAULTS = (OSError, KeyError, RuntimeError, ValueError, AttributeError)


class H5pyFaults:
    """Turns any error h5py raises inside the block into `HDF5FormatError` (kutils errors pass through).

    A class rather than a generator-based context manager: it wraps every row
    read, so it must cost next to nothing when nothing fails.

    Args:
        datapath: The file, for the message.
        doing: What the block does, for the message ("reading rows").
        dataset: The dataset it does it on, if any, for the message.
    """

    __slots__ = ("datapath", "dataset", "doing")

    def __init__(self, datapath: str, doing: str, dataset: str | None = None) -> None:
        self.datapath = datapath
        self.doing = doing
        self.dataset = dataset

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        if error is None or isinstance(error, KutilsError) or not isinstance(error, _H5PY_FAULTS):
            return
        what = self.doing if self.dataset is None else f"{self.doing} of dataset={self.dataset!r}"
        raise HDF5FormatError(
            f"HDF5Matrix: {what} in {self.datapath!r} failed ({type(error).__name__}: {error}). The "
            "file is damaged, truncated, or was changed by another program while open. Check it (h5ls -r, "
            "h5dump), restore a good copy, then create the HDF5Matrix again."
        ) from error


def open_read_only(datapath: str) -> h5py.File:
    """Opens `datapath` read-only, or raises FileNotFoundError, HDF5FileBusyError or HDF5FormatError."""
    if not os.path.exists(datapath):
        raise FileNotFoundError(f"HDF5Matrix: datapath={datapath!r} does not exist.")
    if os.path.isdir(datapath):
        raise IsADirectoryError(f"HDF5Matrix: datapath={datapath!r} is a directory, not an HDF5 file.")
    try:
        return h5py.File(datapath, "r")
    except _H5PY_FAULTS as error:
        if any(sign in str(error) for sign in _BUSY_SIGNS):
            raise HDF5FileBusyError(
                f"HDF5Matrix: datapath={datapath!r} is locked or marked open for writing by another "
                f"process ({error}). Close it there or let that writer finish (a writer that crashed "
                "leaves the mark: clear it with `h5clear -s`), then try again; HDF5Matrix only reads."
            ) from error
        raise HDF5FormatError(
            f"HDF5Matrix: datapath={datapath!r} could not be opened as an HDF5 file ({error}). "
            "Is it a complete, uncorrupted .h5/.hdf5 file?"
        ) from error


def _dataset_names(group: h5py.Group) -> list[str]:
    names: list[str] = []

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            names.append(name)

    group.visititems(visit)
    return names


def _listed(names: list[str], prefix: str = "") -> str:
    shown = ", ".join(repr(f"{prefix}{name}") for name in names[:_MAX_LISTED_DATASETS])
    more = f" and {len(names) - _MAX_LISTED_DATASETS} more" if len(names) > _MAX_LISTED_DATASETS else ""
    return f"{shown or '(none)'}{more}"


def _why_unreachable(file: h5py.File, dataset: str) -> str:
    """' (it is a soft link to ..., which leads nowhere)' for a dangling link; '' for an absent name."""
    try:
        link = file.get(dataset, getlink=True)
    except _H5PY_FAULTS:  # a parent group is missing too
        return ""
    if isinstance(link, h5py.SoftLink):
        return f" (it is a soft link to {link.path!r}, which leads nowhere)"
    if isinstance(link, h5py.ExternalLink):
        return (
            f" (it is an external link to {link.path!r} in the file {link.filename!r}, "
            "which cannot be opened or does not hold that object)"
        )
    return ""


def lookup_dataset(file: h5py.File, datapath: str, dataset: str) -> h5py.Dataset:
    """The dataset named `dataset` in `file`, with rank >= 1, or the documented kutils error."""
    with H5pyFaults(datapath, "looking up", dataset):
        try:
            node = file.get(dataset)
        except KeyError:  # a dangling soft link, an external link to a missing file or object
            node = None
        if node is None:
            raise HDF5DatasetNotFoundError(
                f"HDF5Matrix: dataset={dataset!r} is not in {datapath!r}{_why_unreachable(file, dataset)}. "
                f"Available datasets: {_listed(_dataset_names(file))}."
            )
        if isinstance(node, h5py.Group):
            raise HDF5NotADatasetError(
                f"HDF5Matrix: dataset={dataset!r} in {datapath!r} is a Group, not a dataset. "
                f"Datasets inside it: {_listed(_dataset_names(node), f'{dataset}/')}."
            )
        if isinstance(node, h5py.Datatype):
            raise HDF5NotADatasetError(
                f"HDF5Matrix: dataset={dataset!r} in {datapath!r} is a committed (named) datatype, not a "
                f"dataset. Datasets in the file: {_listed(_dataset_names(file))}."
            )
        if not isinstance(node, h5py.Dataset):
            raise HDF5NotADatasetError(
                f"HDF5Matrix: dataset={dataset!r} in {datapath!r} is a {type(node).__name__}, not a dataset."
            )
        if node.ndim == 0:
            raise HDF5NotADatasetError(
                f"HDF5Matrix: dataset={dataset!r} in {datapath!r} is a scalar; HDF5Matrix needs rows "
                "(rank >= 1)."
            )
        return node
