"""Runs the kutils benchmarks, each in its own process, and prints their tables.

    python bench/run.py                 # every bench/bench_*.py
    python bench/run.py foundation hdf5 # only bench_foundation.py and bench_hdf5.py

Each benchmark measures kutils against the Keras 3 function (or the named
baseline) in the same run and prints the ratios; targets are in each table.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    """Runs the named benchmarks (all if none are named); returns the worst exit status."""
    available = sorted(path.stem.removeprefix("bench_") for path in BENCH_DIR.glob("bench_*.py"))
    chosen = argv or available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {available}", file=sys.stderr)
        return 2
    status = 0
    for name in chosen:
        print(f"\n### bench_{name}.py", flush=True)
        result = subprocess.run([sys.executable, str(BENCH_DIR / f"bench_{name}.py")], check=False)
        status = max(status, result.returncode)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
