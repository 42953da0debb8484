"""Row-wise array work in cache-sized blocks, spread over the cores this process may use.

`to_categorical` and `normalize` write a fresh output as large as (or larger
than) their input. Done in one NumPy call per step, each step streams the whole
array through memory again; done block by block, a block is still in the CPU
cache for its next step, so memory is crossed about once. NumPy releases the
GIL inside its loops, so blocks also run on several threads at once; threads
are started per call (no pool survives a `fork()`, as enqueuer workers do) and
only for arrays large enough to pay for them.

The measured figures are in the docs page `docs/array_ops.md` (from
`bench/bench_foundation.py`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

# A block of about this many bytes of output fits in a core's L2 cache (2 MiB here; 0.5-2 MiB is common).
_BLOCK_BYTES = 1 << 20
# Below this many bytes of output, one thread does the work: starting threads would cost more.
_PARALLEL_BYTES = 16 << 20
# More threads than this stop helping: a memory-bound loop saturates the memory bus first.
_MAX_THREADS = 8


def for_row_blocks(rows: int, row_bytes: int, work: Callable[[int, int], None]) -> None:
    """Calls `work(start, stop)` over consecutive blocks of rows that cover `range(rows)` once.

    Blocks hold about `_BLOCK_BYTES` of `row_bytes`-sized rows. Large jobs are
    split into one contiguous share of blocks per usable core; `work` must
    then be safe to run on different rows at once (NumPy calls writing to
    disjoint rows are). The first error raised by any share is raised here,
    after every share has stopped.

    Args:
        rows: How many rows there are.
        row_bytes: The bytes one row costs (its output, usually).
        work: Does the work for rows `start` to `stop - 1`.

    Raises:
        Exception: Whatever `work` raised first.
    """
    step = max(1, _BLOCK_BYTES // max(1, row_bytes))
    threads = _usable_cores() if rows * row_bytes >= _PARALLEL_BYTES else 1
    threads = max(1, min(threads, _MAX_THREADS, -(-rows // step)))
    bounds = [rows * share // threads for share in range(threads + 1)]
    errors: list[BaseException] = []

    def run_share(first: int, last: int) -> None:
        try:
            for start in range(first, last, step):
                work(start, min(start + step, last))
        except BaseException as error:  # handed to the calling thread, raised there
            errors.append(error)

    helpers = [
        threading.Thread(target=run_share, args=(bounds[share], bounds[share + 1]), name="kutils-rows")
        for share in range(1, threads)
    ]
    for helper in helpers:
        helper.start()
    run_share(bounds[0], bounds[1])
    for helper in helpers:
        helper.join()
    if errors:
        raise errors[0]


def _usable_cores() -> int:
    """The number of CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
