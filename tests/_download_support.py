"""Fixtures and helpers shared by the get_file tests (tests/test_download*.py).

Test modules import the fixture functions (`server_fixture`, `isolated_home_fixture`)
and use them by their fixture names, `server` and `isolated_home`.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _http_server import TestServer

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(name="server")
def server_fixture() -> Iterator[TestServer]:
    """A fresh fault-injecting HTTP server on 127.0.0.1."""
    with TestServer() as running:
        yield running


@pytest.fixture(name="isolated_home", autouse=True)
def isolated_home_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Points HOME and the temporary folder at tmp_path, so no test touches ~/.keras or /tmp/.keras."""
    home = tmp_path / "home"
    home.mkdir()
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    for name in ("KERAS_HOME", "KUTILS_OFFLINE", "KUTILS_VERIFY"):
        monkeypatch.delenv(name, raising=False)
    return home


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible-looking bytes."""
    out = bytearray()
    block = hashlib.sha256(f"seed{seed}".encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def tar_bytes(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    """A tar archive holding regular files `name -> content`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def tar_with(*infos: tarfile.TarInfo) -> bytes:
    """A tar.gz archive of raw members (links, devices, odd names); files get a small body."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info in infos:
            body = b"pwned" if info.isreg() else b""
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body) if body else None)
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A zip archive holding `name -> content`, names stored verbatim (even hostile ones)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, content in members.items():
            zipped.writestr(zipfile.ZipInfo(name), content)
    return buffer.getvalue()


def files_under(folder: Path) -> set[str]:
    """Relative paths of everything under `folder` (files, folders, links)."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def python_child(code: str, *args: str) -> subprocess.Popen[str]:
    """Starts `python -c code args...` with the repository importable and the test's environment."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
