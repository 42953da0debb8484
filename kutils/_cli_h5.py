"""`kutils h5 FILE [PATH]`: the tree of an HDF5 file, and how `HDF5Matrix` reads each dataset.

For each dataset: shape, dtype, chunks, compression and filters, whether
`HDF5Matrix` reads it directly from the file or through h5py, and
which `ArraySequence` shuffle mode is cheap for it. Random rows of a
compressed, chunked dataset each decompress a whole chunk, so `shuffle=True`
is slow there; the advice names what to use instead.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import h5py

__all__ = ["describe_file", "register"]

# The reader classes of `kutils._h5read.open_row_reader`, as users should read them.
_READ_PATHS = {
    "_ContiguousReader": ("direct reads of the file (contiguous)", True),
    "_ChunkRowReader": ("direct reads of the file (uncompressed whole-row chunks)", True),
    "ChunkDecodeReader": ("raw chunks decoded in parallel, off the GIL", False),
    "_H5pyReader": ("h5py (sorted reads, caller's order restored)", False),
}


def register(commands: Any) -> None:
    """Adds `kutils h5` to the command line's sub-commands.

    Args:
        commands: The `argparse` sub-parsers action of the `kutils` parser.
    """
    parser = commands.add_parser(
        "h5",
        help="the tree of an HDF5 file, with how HDF5Matrix reads each dataset",
        description=(
            "Lists the groups and datasets of an HDF5 file with shape, dtype, chunks, compression and "
            "filters, and per dataset how HDF5Matrix reads it and which shuffle mode is cheap."
        ),
        epilog="Example: kutils h5 data.h5 /train --json",
    )
    parser.add_argument("file", metavar="FILE", help="an HDF5 file")
    parser.add_argument("path", metavar="PATH", nargs="?", default="/", help="a group or dataset (default /)")
    parser.add_argument("--json", action="store_true", help="print the tree as JSON")
    parser.set_defaults(handler=_h5_command)


def describe_file(file_path: str, start: str = "/") -> list[dict[str, Any]]:
    """Describes every group, dataset and link under `start`, in file order.

    Args:
        file_path: The HDF5 file.
        start: The group or dataset to start from.

    Returns:
        One dict per item: `path`, `kind` (`group`, `dataset`, `soft_link`,
        `external_link`, `datatype`); datasets add `shape`, `dtype`, `chunks`,
        `compression`, `compression_opts`, `filters`, `read_path`,
        `fast_path` and `shuffle_advice`; links add `target` and `dangling`.

    Raises:
        FileNotFoundError: If the file does not exist.
        KeyError: If `start` is not in the file.
        OSError: If the file is not a readable HDF5 file.
    """
    if not os.path.isfile(file_path):
        raise FileNotFoundError(f"FILE {file_path!r} does not exist or is not a file.")
    items: list[dict[str, Any]] = []
    with h5py.File(file_path, "r") as file:
        if start not in file:
            names = sorted(file.keys())
            raise KeyError(f"PATH {start!r} is not in {file_path!r}; its top-level names are {names}.")
        root = file[start]
        items.append(_describe(file_path, root.name, root))
        if isinstance(root, h5py.Group):
            _walk(file_path, root, items)
    return items


def _walk(file_path: str, group: h5py.Group, items: list[dict[str, Any]]) -> None:
    for name in group:
        path = f"{group.name.rstrip('/')}/{name}"
        link = group.get(name, getlink=True)
        if isinstance(link, h5py.SoftLink | h5py.ExternalLink):
            target = link.path if isinstance(link, h5py.SoftLink) else f"{link.filename}:{link.path}"
            kind = "soft_link" if isinstance(link, h5py.SoftLink) else "external_link"
            dangling = (
                group.get(name) is None
                if isinstance(link, h5py.SoftLink)
                else not _external_exists(link, group)
            )
            items.append({"path": path, "kind": kind, "target": target, "dangling": dangling})
            continue
        item = group[name]
        items.append(_describe(file_path, path, item))
        if isinstance(item, h5py.Group):
            _walk(file_path, item, items)


def _external_exists(link: h5py.ExternalLink, group: h5py.Group) -> bool:
    base = os.path.dirname(os.path.abspath(group.file.filename))
    return os.path.isfile(os.path.join(base, link.filename))


def _describe(file_path: str, path: str, item: Any) -> dict[str, Any]:
    if isinstance(item, h5py.Group):
        return {"path": path, "kind": "group"}
    if not isinstance(item, h5py.Dataset):
        return {"path": path, "kind": "datatype"}
    plist = item.id.get_create_plist()
    filters = [_filter_name(plist.get_filter(index)[0]) for index in range(plist.get_nfilters())]
    read_path, fast = _read_path(file_path, item)
    return {
        "path": path,
        "kind": "dataset",
        "shape": list(item.shape) if item.shape is not None else None,
        "dtype": str(item.dtype),
        "chunks": list(item.chunks) if item.chunks else None,
        "compression": item.compression,
        "compression_opts": item.compression_opts,
        "filters": filters,
        "read_path": read_path,
        "fast_path": fast,
        "shuffle_advice": _shuffle_advice(item, fast),
    }


def _filter_name(code: int) -> str:
    known = {1: "gzip", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit", 6: "scaleoffset", 32000: "lzf"}
    return known.get(code, f"filter {code}")


def _read_path(file_path: str, dataset: h5py.Dataset) -> tuple[str, bool]:
    if not dataset.shape:
        return "not readable by HDF5Matrix (a scalar: it needs rows)", False
    from ._h5read import open_row_reader

    reader = open_row_reader(file_path, dataset)
    name = type(reader).__name__
    return _READ_PATHS.get(name, (name, False))


def _shuffle_advice(dataset: h5py.Dataset, fast: bool) -> str:
    from ._chunk_shuffle import is_compressed

    if not dataset.shape:
        return ""
    if fast:
        return "any: shuffle=True reads each random row straight from the file, with no decompression"
    if is_compressed(dataset):
        rows = dataset.chunks[0]
        return (
            "ArraySequence(shuffle=True) picks 'chunks' here: chunks in random order, rows mixed across a "
            f"window of chunks, each {rows}-row chunk decompressed once per epoch. Random single rows "
            "(HDF5Matrix[random_indices]) decompress a whole chunk each: slow"
        )
    return "shuffle=True works; shuffle='batch' reads fewer, larger runs"


def _h5_command(args: argparse.Namespace) -> int:
    items = describe_file(args.file, args.path)
    if args.json:
        print(json.dumps({"file": args.file, "items": items}, indent=2))
        return 0
    top = args.path.rstrip("/").count("/")
    for item in items:
        depth = item["path"].rstrip("/").count("/") - top
        for line in _lines(item):
            print("  " * depth + line)
    return 0


def _lines(item: dict[str, Any]) -> list[str]:
    kind = item["kind"]
    label = item["path"]
    if kind == "group":
        return [f"{label}/" if label != "/" else "/"]
    if kind in ("soft_link", "external_link"):
        state = " (dangling)" if item["dangling"] else ""
        return [f"{label} -> {item['target']}{state}"]
    if kind == "datatype":
        return [f"{label} (named datatype)"]
    shape = "x".join(str(dim) for dim in item["shape"]) if item["shape"] else "scalar"
    storage = f"chunks {tuple(item['chunks'])}" if item["chunks"] else "contiguous"
    filters = f", filters {'+'.join(item['filters'])}" if item["filters"] else ""
    lines = [f"{label}  {shape} {item['dtype']}, {storage}{filters}"]
    lines.append(f"    HDF5Matrix reads it through: {item['read_path']}")
    if item["shuffle_advice"]:
        lines.append(f"    shuffle: {item['shuffle_advice']}")
    return lines
