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
