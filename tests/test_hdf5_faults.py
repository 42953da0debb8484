"""HDF5Matrix under real file faults: truncation and rewriting by another process, names that lead
nowhere or to non-datasets, damaged bytes (a hypothesis fuzz). Each reader runs in a fresh subprocess,
so that a SIGBUS (which kills the process) fails the test instead of killing the test run."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from _hdf5_support import run_python

from kutils import HDF5Matrix
from kutils.errors import HDF5DatasetNotFoundError, HDF5FormatError, HDF5NotADatasetError

# The reader opens every layout, reads once, lets another process damage the file, then reads again.
_CHANGED_UNDER_READER = """
import os, subprocess, sys
import numpy as np
from kutils import HDF5Matrix
from kutils.errors import HDF5FormatError

path, fault = sys.argv[1], sys.argv[2]
names = ["contiguous", "chunked", "compressed"]
matrices = {name: HDF5Matrix(path, name) for name in names}
before = {name: matrix[[5, 0, 3]] for name, matrix in matrices.items()}
size = os.path.getsize(path)
damage = {
    # another program's h5py.File(path, 'w'): truncates to 0 bytes even when HDF5 locking refuses it
    "failed-h5py-w": "import h5py, sys\\ntry:\\n    h5py.File(sys.argv[1], 'w')\\nexcept OSError:\\n    pass",
    "truncated-half": f"import os, sys; os.truncate(sys.argv[1], {size // 2})",
    # rewritten in place with other values, same layout (HDF5 locking off, as on many shared file systems)
    "rewritten": (
        "import os, sys; os.environ['HDF5_USE_FILE_LOCKING'] = 'FALSE'\\n"
        "import h5py, numpy as np\\n"
        "with h5py.File(sys.argv[1], 'w') as f:\\n"
        "    d = -np.arange(400 * 6, dtype=np.float32).reshape(400, 6)\\n"
        "    f.create_dataset('contiguous', data=d)\\n"
        "    f.create_dataset('chunked', data=d, chunks=(8, 6))\\n"
        "    f.create_dataset('compressed', data=d, chunks=(8, 6), compression='gzip')"
    ),
}[fault]
subprocess.run([sys.executable, "-c", damage, path], check=True)
assert fault == "rewritten" or os.path.getsize(path) < size
for name, matrix in matrices.items():
    for read in (lambda: matrix[[5, 0, 3]], lambda: matrix[2:9], lambda: matrix[7], lambda: matrix[::3]):
        try:
            values = read()
        except HDF5FormatError as error:
            assert "HDF5Matrix" in str(error), error
            continue
        # only h5py's own path may answer (from its caches, or what it reads): never the memmap readers
        assert name == "compressed", f"{name}: no error after {fault}"
print("ok")
"""


def _write_layouts(path: Path) -> Path:
    data = np.arange(400 * 6, dtype=np.float32).reshape(400, 6)
    with h5py.File(path, "w") as file:
        file.create_dataset("contiguous", data=data)
        file.create_dataset("chunked", data=data, chunks=(8, 6))
        file.create_dataset("compressed", data=data, chunks=(8, 6), compression="gzip")
    return path


@pytest.mark.parametrize("fault", ["failed-h5py-w", "truncated-half", "rewritten"])
def test_file_changed_under_a_reader_raises_instead_of_sigbus(tmp_path: Path, fault: str):
    """Truncated or rewritten by another process: the next reads raise HDF5FormatError (it died of SIGBUS,
    or read the new file's bytes at the old offsets)."""
    path = _write_layouts(tmp_path / "data.h5")
    out = run_python(_CHANGED_UNDER_READER, timeout=120, args=(str(path), fault))
    assert out.strip().endswith("ok")


@pytest.fixture
def odd_names(tmp_path: Path) -> Path:
    """A file with a dataset, a group, a committed datatype, a dangling soft link, an external link
    to a missing file and one to a missing object in an existing file."""
    path = tmp_path / "names.h5"
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as file:
        file.create_dataset("there", data=np.arange(4))
    with h5py.File(path, "w") as file:
        file.create_dataset("x", data=np.arange(12.0).reshape(4, 3))
        file.create_group("group").create_dataset("inner", data=np.arange(3))
        file["committed"] = np.dtype("<f4")
        file["dangling"] = h5py.SoftLink("/nowhere")
        file["external_missing_file"] = h5py.ExternalLink(str(tmp_path / "missing.h5"), "/x")
        file["external_missing_object"] = h5py.ExternalLink(str(other), "/not_there")
    return path


def test_committed_datatype_is_not_a_dataset(odd_names: Path):
    """A committed datatype: HDF5NotADatasetError listing the datasets (AttributeError before)."""
    with pytest.raises(HDF5NotADatasetError, match=r"'committed' .* committed \(named\) datatype.*'x'"):
        HDF5Matrix(odd_names, "committed")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("dangling", r"soft link to '/nowhere'"),
        ("external_missing_file", r"external link to '/x' in the file .*missing\.h5"),
        ("external_missing_object", r"external link to '/not_there' in the file .*other\.h5"),
    ],
)
def test_links_that_lead_nowhere_are_not_found(odd_names: Path, name: str, why: str):
    """Dangling soft links and external links to nothing: HDF5DatasetNotFoundError (a KeyError) saying
    why and listing the datasets (h5py's bare KeyError before)."""
    with pytest.raises(
        HDF5DatasetNotFoundError, match=rf"{name}.*{why}.*Available datasets: 'group/inner', 'x'"
    ):
        HDF5Matrix(odd_names, name)


def _damage_local_heap(path: Path) -> None:
    """Overwrites the name bytes of the root group's local heap (HDF5's 'HEAP' block) with garbage."""
    raw = bytearray(path.read_bytes())
    heap = raw.index(b"HEAP")
    data_offset = int.from_bytes(raw[heap + 24 : heap + 32], "little")  # address of the heap's data
    raw[data_offset : data_offset + 32] = b"\xff" * 32
    path.write_bytes(bytes(raw))


def test_damaged_local_heap_and_truncated_file_give_format_errors(tmp_path: Path):
    """A bad local heap or a truncated file: HDF5FormatError, never a bare h5py KeyError/RuntimeError."""
    heap = _write_layouts(tmp_path / "heap.h5")
    _damage_local_heap(heap)
    with pytest.raises((HDF5FormatError, HDF5DatasetNotFoundError)) as info:
        HDF5Matrix(heap, "contiguous")[0]
    assert "heap.h5" in str(info.value)
    truncated = _write_layouts(tmp_path / "truncated.h5")
    truncated.write_bytes(truncated.read_bytes()[:1500])
    for name in ("contiguous", "chunked", "compressed"):
        with pytest.raises(HDF5FormatError, match=r"truncated\.h5"):
            HDF5Matrix(truncated, name)[:]


# Runs in a subprocess: a damaged file may crash HDF5's C library itself, which must fail the test,
# not kill the test run. Random byte flips and truncations of a small real file, every public read.
_FUZZ = """
import sys
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st
from kutils import HDF5Matrix
from kutils.errors import HDF5DatasetNotFoundError, HDF5FormatError, HDF5NotADatasetError

source, target = sys.argv[1], sys.argv[2]
raw = open(source, "rb").read()
flips = st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), min_size=1, max_size=4)
cuts = st.tuples(st.just("truncate"), st.integers(0, len(raw) - 1))
damage = st.one_of(cuts, st.tuples(st.just("flip"), flips))

@settings(max_examples=int(sys.argv[3]), derandomize=True, deadline=None,
          suppress_health_check=list(HealthCheck), database=None)
@given(damage)
def test(change):
    kind, what = change
    data = bytearray(raw[:what] if kind == "truncate" else raw)
    if kind == "flip":
        for position, value in what:
            data[position] = value
    with open(target, "wb") as file:
        file.write(data)
    for name in ("contiguous", "chunked", "compressed", "group/inner", "missing"):
        try:
            matrix = HDF5Matrix(target, name)
            matrix[[3, 1, 2]], matrix[0:7], matrix[::-2], matrix[-1], np.asarray(matrix), len(matrix)
            matrix.close()
        except (HDF5FormatError, HDF5DatasetNotFoundError, HDF5NotADatasetError):
            pass

test()
print("ok")
"""


def test_fuzzed_files_only_raise_kutils_errors(tmp_path: Path):
    """Hypothesis over byte flips and truncations: every failure is a kutils HDF5 error (h5py's KeyError,
    AttributeError, RuntimeError, IndexError or numpy's ValueError leaked before)."""
    source = tmp_path / "source.h5"
    data = np.arange(40 * 6, dtype=np.float32).reshape(40, 6)
    with h5py.File(source, "w") as file:
        file.create_dataset("contiguous", data=data)
        file.create_dataset("chunked", data=data, chunks=(8, 6))
        file.create_dataset("compressed", data=data, chunks=(8, 6), compression="gzip")
        file.create_group("group").create_dataset("inner", data=data[:5])
    out = run_python(_FUZZ, timeout=300, args=(str(source), str(tmp_path / "damaged.h5"), "60"))
    assert out.strip().endswith("ok")


# Readers loop over large random-row batches while another process truncates the file under them.
_TRUNCATED_DURING_READS = """
import os, subprocess, sys, threading
import numpy as np
from kutils import HDF5Matrix
from kutils.errors import HDF5FormatError

path, name = sys.argv[1], sys.argv[2]
matrix = HDF5Matrix(path, name)
rows = len(matrix)
reads = threading.Semaphore(0)
outcomes = []

def read_until_it_fails(seed):
    rng = np.random.default_rng(seed)
    try:
        while True:
            matrix[np.sort(rng.choice(rows, size=4096, replace=False))]
            reads.release()
    except HDF5FormatError as error:
        outcomes.append(str(error))

threads = [threading.Thread(target=read_until_it_fails, args=(seed,)) for seed in range(2)]
for thread in threads:
    thread.start()
for _ in range(20):  # both readers are busy copying rows when the file shrinks
    reads.acquire()
subprocess.run([sys.executable, "-c", f"import os; os.truncate({path!r}, 4096)"], check=True)
for thread in threads:
    thread.join()
assert len(outcomes) == 2 and all("HDF5Matrix" in text for text in outcomes), outcomes
print("ok")
"""


@pytest.mark.parametrize("name", ["contiguous", "chunked"])
def test_truncation_during_random_row_reads_raises_in_every_reader(tmp_path: Path, name: str):
    """The uncompressed layouts read rows with `preadv`, never through a memory map: a truncation in the
    middle of a batch's copy raises HDF5FormatError in each reading thread, where a mapped copy dies of
    SIGBUS (the process)."""
    path = tmp_path / "big.h5"
    data = np.random.default_rng(0).random((65536, 256), dtype=np.float32)  # 64 MiB
    with h5py.File(path, "w") as file:
        file.create_dataset(name, data=data, chunks=(256, 256) if name == "chunked" else None)
    out = run_python(_TRUNCATED_DURING_READS, timeout=120, args=(str(path), name))
    assert out.strip().endswith("ok")
