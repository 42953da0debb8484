"""Tests for the Keras 2.2.4 helpers _hash_file, _extract_archive and urlretrieve of kutils.data_utils."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from _http_server import TestServer

from kutils.data_utils import _extract_archive, _hash_file, urlretrieve, validate_file
from kutils.errors import UnsafeArchiveError

BODY = os.urandom(200_000)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(BODY)
    return path


@pytest.fixture
def server():
    with TestServer() as running:
        yield running


# --- _hash_file --------------------------------------------------------------------------------


def test_hash_file_default_is_sha256(data_file: Path):
    """The default algorithm is sha256, as in 2.2.4; the digest is hashlib's."""
    assert _hash_file(str(data_file)) == hashlib.sha256(BODY).hexdigest()
    assert _hash_file(data_file, "sha256", 1000) == hashlib.sha256(BODY).hexdigest()


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha512", "SHA256"])
def test_hash_file_computes_the_named_algorithm(data_file: Path, algorithm: str):
    """Each name gives its own digest (2.2.4 gave md5 for every name but 'sha256')."""
    assert _hash_file(data_file, algorithm) == hashlib.new(algorithm.lower(), BODY).hexdigest()
    assert validate_file(data_file, _hash_file(data_file, algorithm), algorithm)


def test_hash_file_auto_is_md5(data_file: Path):
    """'auto' gives md5 as in tf_keras and Keras 3; 2.2.4 raised TypeError (len of the builtin `hash`)."""
    assert _hash_file(data_file, "auto") == hashlib.md5(BODY).hexdigest()


def test_hash_file_unknown_algorithm(data_file: Path):
    """An unknown algorithm is a ValueError naming it."""
    with pytest.raises(ValueError, match="algorithm='crc99' is not a known hash algorithm"):
        _hash_file(data_file, "crc99")


def test_hash_file_missing_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        _hash_file(tmp_path / "missing.bin")


# --- _extract_archive --------------------------------------------------------------------------


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def test_extract_archive_tar_and_zip_return_true(tmp_path: Path):
    """A tar.gz and a zip are extracted into `path` and give True, as in 2.2.4."""
    tar = _tar(tmp_path / "a.tar.gz", {"set/x.txt": b"x", "set/y.txt": b"y"})
    zipped = _zip(tmp_path / "b.zip", {"z.txt": b"z"})
    assert _extract_archive(str(tar), str(tmp_path / "out")) is True
    assert _extract_archive(zipped, tmp_path / "out", "zip") is True
    assert (tmp_path / "out" / "set" / "y.txt").read_bytes() == b"y"
    assert (tmp_path / "out" / "z.txt").read_bytes() == b"z"


def test_extract_archive_default_path_is_the_working_directory(tmp_path: Path, monkeypatch):
    """path='.' extracts into the current directory."""
    tar = _tar(tmp_path / "a.tar", {"here.txt": b"1"})
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert _extract_archive(tar) is True
    assert (work / "here.txt").read_bytes() == b"1"


@pytest.mark.parametrize("archive_format", [None, "zip"])
def test_extract_archive_false_when_no_format_matches(tmp_path: Path, archive_format):
    """None, or a format the file is not, gives False and writes nothing."""
    tar = _tar(tmp_path / "a.tar.gz", {"x.txt": b"x"})
    assert _extract_archive(tar, tmp_path / "out", archive_format) is False
    assert not (tmp_path / "out" / "x.txt").exists()


def test_extract_archive_not_an_archive(tmp_path: Path, data_file: Path):
    assert _extract_archive(data_file, tmp_path / "out") is False


def test_extract_archive_unknown_format(tmp_path: Path):
    """An unknown format name is a ValueError (2.2.4: UnboundLocalError)."""
    tar = _tar(tmp_path / "a.tar.gz", {"x.txt": b"x"})
    with pytest.raises(ValueError, match="archive_format='rar'"):
        _extract_archive(tar, tmp_path / "out", "rar")


def test_extract_archive_broken_archive_keeps_the_folder(tmp_path: Path):
    """A truncated archive raises and leaves the destination as it was (2.2.4 deleted the whole folder)."""
    tar = _tar(tmp_path / "a.tar.gz", {f"f{i}.bin": os.urandom(50_000) for i in range(4)})
    tar.write_bytes(tar.read_bytes()[:60_000])
    out = tmp_path / "datasets"
    out.mkdir()
    (out / "precious.npz").write_bytes(b"keep me")
    with pytest.raises((tarfile.TarError, EOFError)):
        _extract_archive(tar, out, "tar")
    assert sorted(p.name for p in out.iterdir()) == ["precious.npz"]
    assert (out / "precious.npz").read_bytes() == b"keep me"


def test_extract_archive_refuses_path_traversal(tmp_path: Path):
    """A member escaping `path` is refused and nothing is written (2.2.4 extracted it anywhere)."""
    tar = _tar(tmp_path / "evil.tar", {"ok.txt": b"ok", "../escaped.txt": b"pwned"})
    with pytest.raises(UnsafeArchiveError):
        _extract_archive(tar, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "out" / "ok.txt").exists()


# --- urlretrieve -------------------------------------------------------------------------------


def test_urlretrieve_saves_the_file_and_reports_progress(server: TestServer, tmp_path: Path):
    """The body lands in `filename`; the hook gets (count, block_size, total) with the announced size."""
    url = server.add("/data.bin", BODY)
    calls: list[tuple[int, int, int]] = []
    target = tmp_path / "data.bin"
    path, headers = urlretrieve(url, str(target), lambda *args: calls.append(args))
    assert path == str(target)
    assert target.read_bytes() == BODY
    assert headers["Content-Length"] == str(len(BODY))
    assert calls[0][0] == 0
    assert {total for _, _, total in calls} == {len(BODY)}
    assert calls[-1][0] * calls[-1][1] >= len(BODY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]


def test_urlretrieve_without_filename_uses_a_temporary_file(server: TestServer):
    url = server.add("/t.bin", b"hello")
    path, _ = urlretrieve(url)
    try:
        assert Path(path).read_bytes() == b"hello"
    finally:
        urllib.request.urlcleanup()
    assert not os.path.exists(path)


def test_urlretrieve_http_error_leaves_nothing(server: TestServer, tmp_path: Path):
    """A 404 raises HTTPError (an OSError), as in 2.2.4; no file and no temporary file remain."""
    url = server.add("/missing", b"", status=404)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urlretrieve(url, tmp_path / "missing.bin")
    assert caught.value.code == 404
    assert list(tmp_path.iterdir()) == []


def test_urlretrieve_truncated_body_keeps_the_old_file(server: TestServer, tmp_path: Path):
    """A body cut short raises ContentTooShortError and the existing file stays whole (urllib left it cut)."""
    url = server.add("/cut.bin", BODY, drop_after=50_000)
    target = tmp_path / "cut.bin"
    target.write_bytes(b"previous complete version")
    with pytest.raises(urllib.error.ContentTooShortError):
        urlretrieve(url, target)
    assert target.read_bytes() == b"previous complete version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.bin"]


def test_urlretrieve_file_url(tmp_path: Path, data_file: Path):
    target = tmp_path / "copy.bin"
    path, _ = urlretrieve(data_file.as_uri(), target)
    assert Path(path).read_bytes() == BODY
