"""`kutils fetch`, `kutils cache ...` and `kutils h5` as subprocesses, against a real HTTP server on
127.0.0.1, real cache folders and real HDF5 files; `--json` checked against the Python API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from _download_support import isolated_home_fixture, payload, server_fixture, sha256, tar_bytes

from kutils import HDF5Matrix, get_file

__all__ = ["isolated_home_fixture", "server_fixture"]  # fixtures used by name


def kutils(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs `python -m kutils ARGV...` in a fresh process with this test's HOME and returns it finished."""
    command = [sys.executable, "-m", "kutils", *argv]
    environment = {**os.environ, **(env or {})}
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120, check=False)


def test_fetch_prints_only_the_local_path_and_checks_the_hash(server, tmp_path):
    """`kutils fetch URL --hash H`: the cached path alone on stdout; the file is the server's bytes."""
    data = payload(200_000)
    url = server.add("/data.bin", data)
    result = kutils("fetch", url, "--hash", sha256(data), "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert result.stdout == f"{path}\n"
    assert path == tmp_path / "cache" / "datasets" / "data.bin"
    assert path.read_bytes() == data
    assert "Downloading data from" in result.stderr  # get_file's own words go to stderr
    again = kutils("fetch", url, "--hash", sha256(data), "--cache-dir", str(tmp_path / "cache"))
    assert again.stdout == result.stdout
    assert server.requests("/data.bin") == 1  # the second call was a cache hit


def test_fetch_failure_is_one_line_and_status_1(server, tmp_path):
    """A wrong hash: exit 1, one line naming the HashMismatchError, nothing left in the cache."""
    url = server.add("/data.bin", payload(1000))
    result = kutils("fetch", url, "--hash", "0" * 64, "--retries", "0", "--cache-dir", str(tmp_path / "c"))
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("kutils fetch")]
    assert "HashMismatchError" in line
    assert not (tmp_path / "c" / "datasets" / "data.bin").exists()


def test_fetch_offline_without_the_file_fails_clearly(tmp_path):
    """`--offline` and an empty cache: exit 1 with the OfflineError, no network tried."""
    result = kutils("fetch", "http://127.0.0.1:9/x.bin", "--offline", "--cache-dir", str(tmp_path))
    assert result.returncode == 1
    assert "OfflineError" in result.stderr


def fill_cache(server, cache: Path) -> dict[str, bytes]:
    """A cache with a verified file, an extracted archive and a file Keras fetched (no record)."""
    data = payload(50_000, seed=1)
    get_file(
        "weights.bin", server.add("/w", data), file_hash=sha256(data), cache_dir=cache, cache_subdir="models"
    )
    archive = tar_bytes({"train/a.txt": b"a", "README": b"r"})
    get_file("set.tar.gz", server.add("/t", archive), cache_dir=cache, extract=True)
    (cache / "datasets" / "plain.npz").write_bytes(b"by someone else")
    (cache / "keras.json").write_text("{}")  # Keras' own config: never an entry
    return {"weights": data, "archive": archive}


def test_cache_list_json_matches_the_cache(server, tmp_path):
    """`cache list --json`: every entry with size, verified hash and extracted names; temporaries marked."""
    cache = tmp_path / "cache"
    contents = fill_cache(server, cache)
    (cache / "datasets" / ".plain.npz.0123456789ab.part").write_bytes(b"half")  # a killed download's
    result = kutils("cache", "--cache-dir", str(cache), "list", "--json")
    assert result.returncode == 0, result.stderr
    entries = {entry["name"]: entry for entry in json.loads(result.stdout)["entries"]}
    assert set(entries) == {
        "datasets/.plain.npz.0123456789ab.part",
        "datasets/plain.npz",
        "datasets/set.tar.gz",
        "models/weights.bin",
    }
    assert entries["models/weights.bin"]["hashes"] == {"sha256": sha256(contents["weights"])}
    assert entries["models/weights.bin"]["size"] == len(contents["weights"])
    assert entries["datasets/set.tar.gz"]["extracted"] == ["README", "train"]
    assert entries["datasets/plain.npz"]["hashes"] == {}
    assert entries["datasets/.plain.npz.0123456789ab.part"]["kind"] == "temporary"
    text = kutils("cache", "--cache-dir", str(cache), "list")
    assert "models/weights.bin" in text.stdout
    assert "verified sha256:" in text.stdout
    assert "extracted: README, train" in text.stdout


def test_cache_verify_finds_a_changed_file(server, tmp_path):
    """`cache verify`: ok for intact files; a file changed on disk is 'changed' and the exit status 1."""
    cache = tmp_path / "cache"
    fill_cache(server, cache)
    assert kutils("cache", "--cache-dir", str(cache), "verify", "models/weights.bin").returncode == 0
    target = cache / "models" / "weights.bin"
    with open(target, "r+b") as stream:  # same size, one byte flipped, mtime kept: only a re-hash sees it
        stat = os.stat(target)
        stream.write(b"\xff")
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    result = kutils("cache", "--cache-dir", str(cache), "verify", "--json")
    assert result.returncode == 1
    statuses = {item["name"]: item["status"] for item in json.loads(result.stdout)["results"]}
    assert statuses["models/weights.bin"] == "changed"
    assert statuses["datasets/plain.npz"] == "unknown"


def test_cache_remove_takes_the_entry_its_record_and_extracted_files_only(server, tmp_path):
    """`cache remove NAME`: the file, its hidden record and what it extracted go; nothing else."""
    cache = tmp_path / "cache"
    fill_cache(server, cache)
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    dry = kutils("cache", "--cache-dir", str(cache), "remove", "datasets/set.tar.gz", "--dry-run")
    assert dry.returncode == 0
    assert "would remove datasets/set.tar.gz" in dry.stdout
    assert (cache / "datasets" / "train").is_dir()
    result = kutils("cache", "--cache-dir", str(cache), "remove", "datasets/set.tar.gz")
    assert result.returncode == 0, result.stderr
    left = sorted(path.name for path in (cache / "datasets").iterdir())
    assert left == [".plain.npz.kutils.lock", "plain.npz"] or left == ["plain.npz"]
    assert (cache / "models" / "weights.bin").exists()
    assert (cache / "keras.json").exists()
    assert outside.read_text() == "keep me"
    unknown = kutils("cache", "--cache-dir", str(cache), "remove", "datasets/nope")
    assert unknown.returncode == 1
    assert "not in the cache" in unknown.stderr


def test_cache_prune_removes_stale_temporaries_and_old_entries(server, tmp_path):
    """`cache prune`: temporaries untouched for an hour go, fresh ones stay; --older-than takes old files."""
    cache = tmp_path / "cache"
    fill_cache(server, cache)
    stale = cache / "datasets" / ".plain.npz.0123456789ab.part"
    fresh = cache / "datasets" / ".plain.npz.ba9876543210.part"
    staging = cache / "datasets" / ".kutils-extract-dead"
    for path in (stale, fresh):
        path.write_bytes(b"x")
    staging.mkdir()
    (staging / "half.txt").write_text("x")
    hour_ago = time.time() - 7200
    for path in (stale, staging):
        os.utime(path, (hour_ago, hour_ago))
    old = cache / "datasets" / "plain.npz"
    os.utime(old, (time.time() - 40 * 86400,) * 2)
    result = kutils("cache", "--cache-dir", str(cache), "prune")
    assert result.returncode == 0, result.stderr
    assert not stale.exists()
    assert not staging.exists()
    assert fresh.exists()
    assert old.exists()
    result = kutils("cache", "--cache-dir", str(cache), "prune", "--older-than", "30")
    assert result.returncode == 0
    assert not old.exists()
    assert (cache / "models" / "weights.bin").exists()


def test_cache_list_of_a_missing_folder_is_empty(tmp_path):
    """A cache folder that does not exist yet is an empty cache, not an error."""
    result = kutils("cache", "--cache-dir", str(tmp_path / "none"), "list", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["entries"] == []


@pytest.fixture
def h5_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as file:
        file["plain"] = np.arange(40, dtype="float32").reshape(10, 4)
        group = file.create_group("train")
        group.create_dataset(
            "images", data=np.zeros((512, 8), "uint8"), chunks=(256, 8), compression="gzip", shuffle=True
        )
        group.create_dataset("rows", data=np.ones((64, 3), "int16"), chunks=(16, 3))
        group["alias"] = h5py.SoftLink("/missing")
        file["scalar"] = 3
    return path


def test_h5_json_describes_every_dataset_as_hdf5matrix_reads_it(h5_file):
    """`kutils h5 FILE --json`: shape, dtype, chunks, filters; the read path agrees with HDF5Matrix."""
    result = kutils("h5", str(h5_file), "--json")
    assert result.returncode == 0, result.stderr
    items = {item["path"]: item for item in json.loads(result.stdout)["items"]}
    assert set(items) == {"/", "/plain", "/train", "/train/images", "/train/rows", "/train/alias", "/scalar"}
    images = items["/train/images"]
    assert images["shape"] == [512, 8]
    assert images["chunks"] == [256, 8]
    assert images["compression"] == "gzip"
    assert images["filters"] == ["shuffle", "gzip"]
    assert images["fast_path"] is False
    assert "picks 'chunks' here" in images["shuffle_advice"]
    assert images["read_path"] == "raw chunks decoded in parallel, off the GIL"
    assert items["/plain"]["fast_path"] is True
    assert items["/plain"]["chunks"] is None
    assert items["/train/rows"]["fast_path"] is True  # uncompressed whole-row chunks
    assert items["/train/alias"] == {
        "path": "/train/alias",
        "kind": "soft_link",
        "target": "/missing",
        "dangling": True,
    }
    matrix = HDF5Matrix(str(h5_file), "plain")  # the fast path the report names really is what reads it
    np.testing.assert_array_equal(matrix[[9, 0, 3]], np.arange(40, dtype="float32").reshape(10, 4)[[9, 0, 3]])


def test_h5_text_tree_and_subpath(h5_file):
    """The text tree indents by depth and prints the advice; PATH limits it to one group."""
    result = kutils("h5", str(h5_file), "/train")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "/train/"
    assert any(
        line.startswith("  /train/images  512x8 uint8, chunks (256, 8), filters shuffle+gzip")
        for line in lines
    )
    assert "/plain" not in result.stdout
    missing = kutils("h5", str(h5_file), "/nope")
    assert missing.returncode == 1
    assert "'/nope' is not in" in missing.stderr
