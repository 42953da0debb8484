"""Helpers shared by the HDF5Matrix / Sequence / enqueuer tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import h5py
import numpy as np

REPO = Path(__file__).resolve().parent.parent

# name -> h5py create_dataset keyword arguments: every storage layout HDF5Matrix reads differently.
LAYOUTS: dict[str, dict[str, object]] = {
    "contiguous": {},
    "chunked": {"chunks": (4, 3, 2)},
    "chunked_split_rows": {"chunks": (4, 3, 1)},
    "compressed": {"chunks": (4, 3, 2), "compression": "gzip"},
    "big_endian": {"dtype": ">f8"},
}


def reference_array(rows: int = 37) -> np.ndarray:
    """The data every layout stores: distinct values so any misplaced row shows."""
    return np.arange(rows * 6, dtype=np.float32).reshape(rows, 3, 2) * 0.5 - 7


def write_layouts(path: Path, data: np.ndarray) -> Path:
    """Writes `data` once per layout, plus a group, a scalar and a 1-D dataset."""
    with h5py.File(path, "w") as file:
        for name, options in LAYOUTS.items():
            file.create_dataset(name, data=data.astype(options.get("dtype", data.dtype)), **options)
        group = file.create_group("group")
        group.create_dataset("inner", data=data[:3])
        file.create_dataset("scalar", data=3.0)
        file.create_dataset("labels", data=np.arange(len(data)) % 5)
    return path


def write_unusual_layouts(folder: Path, data: np.ndarray) -> tuple[Path, dict[str, np.ndarray]]:
    """Writes `data` in layouts a raw-offset reader can get wrong; returns the file and what each holds.

    A 512-byte user block (offsets shift), unallocated chunks and storage (fill values), partly
    written datasets, integers of reduced precision at a bit offset, the v4 chunk indexes of
    `libver='latest'`, resized chunked datasets, a compact dataset, a virtual dataset, a
    byte-shuffle filter, big-endian chunks not dividing the rows, and external links into another
    file (whose bytes are not in this one).
    """
    filled = np.full_like(data, -1)
    partly = filled.copy()
    partly[20:30] = data[20:30]
    expected = {"userblock_contiguous": data, "userblock_chunked": data, "unallocated_chunked": filled}
    expected |= {"unallocated_contiguous": filled, "partly_chunked": partly, "partly_contiguous": partly}
    expected |= {"latest_fixed": data, "latest_extensible": data, "latest_btree2": data}
    expected |= {"latest_partly": partly, "grown": data, "shrunk": data[:20], "compact": data[:5]}
    expected |= {"virtual": data, "shuffled": data, "big_endian_odd_chunks": data.astype(">i4")}
    expected |= {
        "linked_contiguous": data,
        "linked_chunked": data,
        "twelve_bit": np.arange(-8, 8, dtype="i2"),
    }
    other = folder / "linked_target.h5"
    with h5py.File(other, "w") as file:
        file.create_dataset("padding", data=np.arange(5000.0))
        file.create_dataset("contiguous", data=data)
        file.create_dataset("chunked", data=data, chunks=(4, *data.shape[1:]))
    path = folder / "unusual.h5"
    row_chunks = (4, *data.shape[1:])
    with h5py.File(path, "w", userblock_size=512, libver="latest") as file:
        file.create_dataset("padding", data=np.arange(3000.0))
        file.create_dataset("userblock_contiguous", data=data)
        file.create_dataset("userblock_chunked", data=data, chunks=row_chunks)
        for name, chunks in (("unallocated_chunked", row_chunks), ("unallocated_contiguous", None)):
            file.create_dataset(name, shape=data.shape, dtype=data.dtype, chunks=chunks, fillvalue=-1)
        for name, chunks in (("partly_chunked", row_chunks), ("partly_contiguous", None)):
            file.create_dataset(name, shape=data.shape, dtype=data.dtype, chunks=chunks, fillvalue=-1)
            file[name][20:30] = data[20:30]
        file.create_dataset("latest_fixed", data=data, chunks=row_chunks)
        file.create_dataset(
            "latest_extensible", data=data, chunks=row_chunks, maxshape=(None, *data.shape[1:])
        )
        file.create_dataset("latest_btree2", data=data, chunks=row_chunks, maxshape=(None,) * data.ndim)
        file.create_dataset(
            "latest_partly",
            shape=data.shape,
            dtype=data.dtype,
            chunks=row_chunks,
            maxshape=(None, *data.shape[1:]),
            fillvalue=-1,
        )
        file["latest_partly"][20:30] = data[20:30]
        grown = file.create_dataset(
            "grown", data=data[:9], chunks=row_chunks, maxshape=(None, *data.shape[1:])
        )
        grown.resize(len(data), axis=0)
        grown[9:] = data[9:]
        file.create_dataset("shrunk", data=data, chunks=row_chunks, maxshape=(None, *data.shape[1:]))
        file["shrunk"].resize(20, axis=0)
        compact = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        compact.set_layout(h5py.h5d.COMPACT)
        space = h5py.h5s.create_simple(data[:5].shape)
        h5py.h5d.create(file.id, b"compact", h5py.h5t.py_create(data.dtype), space, dcpl=compact)
        file["compact"][...] = data[:5]
        layout = h5py.VirtualLayout(shape=data.shape, dtype=data.dtype)
        layout[:] = h5py.VirtualSource(file["latest_fixed"])
        file.create_virtual_dataset("virtual", layout)
        file.create_dataset("shuffled", data=data, chunks=row_chunks, shuffle=True)
        file.create_dataset("big_endian_odd_chunks", data=data.astype(">i4"), chunks=(7, *data.shape[1:]))
        twelve_bit = h5py.h5t.STD_I16LE.copy()  # 12 significant bits at bit offset 2 of each int16
        twelve_bit.set_precision(12)
        twelve_bit.set_offset(2)
        h5py.h5d.create(file.id, b"twelve_bit", twelve_bit, h5py.h5s.create_simple((16,)))
        file["twelve_bit"][...] = expected["twelve_bit"]
        file["linked_contiguous"] = h5py.ExternalLink(other.name, "/contiguous")
        file["linked_chunked"] = h5py.ExternalLink(other.name, "/chunked")
    return path, expected


def run_python(
    code: str, timeout: float = 180, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> str:
    """Runs `code` as a script in a fresh interpreter (cwd: repo root); returns stdout; asserts exit 0."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", **(env or {})}
    with tempfile.TemporaryDirectory(prefix="kutils-test-") as folder:
        script = Path(folder) / "script.py"  # a file, so that spawned workers can import its functions
        script.write_text(textwrap.dedent(code))
        result = subprocess.run(
            [sys.executable, str(script), *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
        )
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result.stdout


# Prepended to subprocess scripts that measure memory: makes tests/_rss.py importable.
RSS_ANON_SAMPLER = f"import sys\nsys.path.insert(0, {str(REPO / 'tests')!r})\nfrom _rss import PeakRssAnon\n"
