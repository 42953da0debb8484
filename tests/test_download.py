"""get_file / validate_file: the Keras 2.2.4 behaviours, the cache, hashes, offline mode and errors."""

from __future__ import annotations

import inspect
import os
import re
import stat
import tarfile
import warnings
from pathlib import Path

import pytest
from _download_support import isolated_home_fixture, md5, payload, server_fixture, sha256, tar_bytes  # noqa: F401
from _http_server import TestServer

import kutils
from kutils import data_utils
from kutils.download import (
    CacheDirError,
    DownloadError,
    HashMismatchError,
    OfflineError,
    get_file,
    validate_file,
)

DATA = payload(300_000)


def test_public_names_resolve_to_the_download_module():
    """kutils.get_file and kutils.data_utils.get_file/validate_file are the download module's functions."""
    assert kutils.get_file is get_file
    assert data_utils.get_file is get_file
    assert data_utils.validate_file is validate_file


def test_signatures_are_the_keras_224_ones():
    """get_file/validate_file keep 2.2.4's parameters, order and defaults; the extras are keyword-only."""
    keras_224 = [
        ("fname", inspect.Parameter.empty),
        ("origin", inspect.Parameter.empty),
        ("untar", False),
        ("md5_hash", None),
        ("file_hash", None),
        ("cache_subdir", "datasets"),
        ("hash_algorithm", "auto"),
        ("extract", False),
        ("archive_format", "auto"),
        ("cache_dir", None),
    ]
    parameters = list(inspect.signature(get_file).parameters.values())
    assert [(p.name, p.default) for p in parameters[: len(keras_224)]] == keras_224
    assert {p.kind for p in parameters[: len(keras_224)]} == {inspect.Parameter.POSITIONAL_OR_KEYWORD}
    assert {p.kind for p in parameters[len(keras_224) :]} == {inspect.Parameter.KEYWORD_ONLY}
    validate = [(p.name, p.default) for p in inspect.signature(validate_file).parameters.values()]
    assert validate == [
        ("fpath", inspect.Parameter.empty),
        ("file_hash", inspect.Parameter.empty),
        ("algorithm", "auto"),
        ("chunk_size", 65535),
    ]


def test_default_cache_is_home_keras_datasets(server: TestServer, isolated_home: Path, capsys):
    """Without cache_dir the file lands in ~/.keras/datasets/fname, a str path, after the 2.2.4 message."""
    url = server.add("/data.bin", DATA)
    path = get_file("data.bin", url)
    assert isinstance(path, str)
    assert path == str(isolated_home / ".keras" / "datasets" / "data.bin")
    assert Path(path).read_bytes() == DATA
    assert f"Downloading data from {url}" in capsys.readouterr().out


def test_keras_home_replaces_home_keras(server: TestServer, tmp_path: Path, monkeypatch):
    """$KERAS_HOME is the cache folder when set (as Keras 2.2.5+ and 3 honour it)."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    path = get_file("data.bin", server.add("/data.bin", DATA))
    assert path == str(tmp_path / "kh" / "datasets" / "data.bin")


def test_positional_call_and_cache_subdir(server: TestServer, tmp_path: Path):
    """The 2.2.4 positional order works: (fname, origin, untar, md5_hash, file_hash, cache_subdir)."""
    url = server.add("/data.bin", DATA)
    path = get_file("data.bin", url, False, None, sha256(DATA), "models", "auto", False, "auto", tmp_path)
    assert path == str(tmp_path / "models" / "data.bin")


def test_absolute_cache_subdir_and_fname_override(server: TestServer, tmp_path: Path):
    """An absolute cache_subdir or fname is used as is (os.path.join semantics, as 2.2.4)."""
    url = server.add("/data.bin", DATA)
    subdir = tmp_path / "elsewhere"
    assert get_file("a.bin", url, cache_subdir=str(subdir), cache_dir=tmp_path / "c") == str(subdir / "a.bin")
    target = tmp_path / "exact" / "b.bin"
    assert get_file(str(target), url, cache_dir=tmp_path / "c") == str(target)
    assert target.read_bytes() == DATA


def test_fname_none_takes_the_url_file_name(server: TestServer, tmp_path: Path):
    """fname=None names the file after the last part of the URL path."""
    path = get_file(None, server.add("/dir/named.bin", DATA), cache_dir=tmp_path)
    assert os.path.basename(path) == "named.bin"


def test_cached_file_without_hash_is_reused(server: TestServer, tmp_path: Path):
    """A cached file is returned without any request when no hash is given (2.2.4)."""
    url = server.add("/data.bin", DATA)
    first = get_file("data.bin", url, cache_dir=tmp_path)
    second = get_file("data.bin", url, cache_dir=tmp_path)
    assert first == second
    assert server.requests("/data.bin") == 1


@pytest.mark.parametrize(
    ("kwargs", "algorithm"),
    [
        ({"file_hash": sha256(DATA)}, "sha256"),
        ({"file_hash": md5(DATA)}, "md5"),
        ({"md5_hash": md5(DATA)}, "md5"),
        ({"file_hash": sha256(DATA).upper(), "hash_algorithm": "sha256"}, "sha256"),
    ],
)
def test_cached_file_with_wrong_hash_is_downloaded_again(
    server: TestServer, tmp_path: Path, capsys, kwargs, algorithm
):
    """A cached file whose hash differs is re-downloaded after the 2.2.4 message naming the algorithm."""
    url = server.add("/data.bin", DATA)
    stale = tmp_path / "datasets" / "data.bin"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old content")
    path = get_file("data.bin", url, cache_dir=tmp_path, **kwargs)
    assert Path(path).read_bytes() == DATA
    assert server.requests("/data.bin") == 1
    out = capsys.readouterr().out
    assert f"because the {algorithm} file hash does not match" in out
    get_file("data.bin", url, cache_dir=tmp_path, **kwargs)
    assert server.requests("/data.bin") == 1


def test_fresh_download_with_wrong_hash_raises_and_caches_nothing(server: TestServer, tmp_path: Path):
    """Unlike 2.2.4, a download that does not match file_hash raises HashMismatchError and is deleted."""
    url = server.add("/data.bin", DATA)
    wrong = sha256(b"something else")
    with pytest.raises(HashMismatchError) as info:
        get_file("data.bin", url, file_hash=wrong, cache_dir=tmp_path, retries=1, retry_backoff=0)
    error = info.value
    assert isinstance(error, ValueError)
    assert (error.url, error.expected, error.actual, error.algorithm) == (url, wrong, sha256(DATA), "sha256")
    assert error.path == str(tmp_path / "datasets" / "data.bin")
    assert wrong in str(error)
    assert "nothing was cached" in str(error)
    assert server.requests("/data.bin") == 2  # hash mismatch is retried
    assert os.listdir(tmp_path / "datasets") == [".data.bin.kutils.lock"]


def test_file_origin(tmp_path: Path):
    """A file:// origin is copied into the cache and checked against its hash."""
    source = tmp_path / "source.bin"
    source.write_bytes(DATA)
    path = get_file("copy.bin", source.as_uri(), file_hash=sha256(DATA), cache_dir=tmp_path / "c")
    assert Path(path).read_bytes() == DATA


def test_missing_file_origin_raises_download_error(tmp_path: Path):
    """A file:// origin that does not exist raises DownloadError naming the URL."""
    url = (tmp_path / "absent.bin").as_uri()
    with pytest.raises(DownloadError, match=r"URL fetch failure on .*absent\.bin"):
        get_file("x.bin", url, cache_dir=tmp_path)


def test_http_404_is_a_download_error_not_retried(server: TestServer, tmp_path: Path):
    """A 404 raises DownloadError (an Exception, like 2.2.4) with the status, at once, caching nothing."""
    url = server.add("/gone.bin", status=404)
    with pytest.raises(Exception, match=r"URL fetch failure on .*/gone.bin : 404") as info:
        get_file("gone.bin", url, cache_dir=tmp_path, retries=3, retry_backoff=0)
    assert isinstance(info.value, DownloadError)
    assert (info.value.status, info.value.url) == (404, url)
    assert info.value.path == str(tmp_path / "datasets" / "gone.bin")
    assert server.requests("/gone.bin") == 1
    assert not (tmp_path / "datasets" / "gone.bin").exists()


def test_unreachable_https_is_a_download_error(server: TestServer, tmp_path: Path):
    """A TLS handshake failure (https to a plain-HTTP port) raises DownloadError saying to check the URL."""
    url = server.add("/data.bin", DATA).replace("http://", "https://")
    with pytest.raises(DownloadError, match="URL fetch failure on https://") as info:
        get_file("data.bin", url, cache_dir=tmp_path, retries=0)
    assert info.value.status is None
    assert "speaks https:// on this port" in str(info.value)
    assert "certifi" not in str(info.value)


def test_untrusted_certificate_names_the_fix_and_the_fix_works(tmp_path: Path, monkeypatch, capsys):
    """A self-signed server: DownloadError naming certifi/$REQUESTS_CA_BUNDLE, not retried; the hint works."""
    with TestServer(tls=True) as tls_server:
        url = tls_server.add("/data.bin", DATA)
        with pytest.raises(DownloadError, match="CERTIFICATE_VERIFY_FAILED") as info:
            get_file("data.bin", url, cache_dir=tmp_path, retries=3, retry_backoff=0)
        error = info.value
        assert (error.url, error.path, error.status) == (url, str(tmp_path / "datasets" / "data.bin"), None)
        assert "certifi" in str(error)
        assert "$REQUESTS_CA_BUNDLE" in str(error)
        assert "Retrying" not in capsys.readouterr().out
        assert not (tmp_path / "datasets" / "data.bin").exists()
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_server.ca_bundle))
        path = get_file("data.bin", url, file_hash=sha256(DATA), cache_dir=tmp_path)
        assert Path(path).read_bytes() == DATA
        assert tls_server.requests("/data.bin") == 1


def test_force_download_fetches_again(server: TestServer, tmp_path: Path):
    """force_download=True downloads even when the file is cached."""
    url = server.add("/data.bin", DATA)
    get_file("data.bin", url, cache_dir=tmp_path)
    get_file("data.bin", url, cache_dir=tmp_path, force_download=True)
    assert server.requests("/data.bin") == 2


def test_verified_hash_is_remembered_until_the_file_changes(server: TestServer, tmp_path: Path):
    """A hit trusts the recorded hash while size, mtime and inode stay; verify='always' re-hashes."""
    url = server.add("/data.bin", DATA)
    path = Path(get_file("data.bin", url, file_hash=sha256(DATA), cache_dir=tmp_path))
    before = path.stat()
    with open(path, "r+b") as stream:  # same size, same inode, mtime restored: only a re-hash can tell
        stream.write(b"X")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    get_file("data.bin", url, file_hash=sha256(DATA), cache_dir=tmp_path)
    assert server.requests("/data.bin") == 1
    get_file("data.bin", url, file_hash=sha256(DATA), cache_dir=tmp_path, verify="always")
    assert server.requests("/data.bin") == 2
    assert path.read_bytes() == DATA


def test_verify_environment_variable(server: TestServer, tmp_path: Path, monkeypatch):
    """KUTILS_VERIFY=always re-hashes cache hits like verify='always'; an explicit verify='once' wins."""
    url = server.add("/data.bin", DATA)
    path = Path(get_file("data.bin", url, file_hash=md5(DATA), cache_dir=tmp_path))
    before = path.stat()
    with open(path, "r+b") as stream:
        stream.write(b"X")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    monkeypatch.setenv("KUTILS_VERIFY", "always")
    get_file("data.bin", url, file_hash=md5(DATA), cache_dir=tmp_path, verify="once")
    assert server.requests("/data.bin") == 1
    get_file("data.bin", url, file_hash=md5(DATA), cache_dir=tmp_path)
    assert server.requests("/data.bin") == 2


def test_a_replaced_file_is_hashed_again(server: TestServer, tmp_path: Path):
    """A file replaced by other content (new inode) is not trusted from the record."""
    url = server.add("/data.bin", DATA)
    path = Path(get_file("data.bin", url, file_hash=sha256(DATA), cache_dir=tmp_path))
    replacement = tmp_path / "other"
    replacement.write_bytes(b"Y" * len(DATA))
    os.replace(replacement, path)
    get_file("data.bin", url, file_hash=sha256(DATA), cache_dir=tmp_path)
    assert server.requests("/data.bin") == 2
    assert path.read_bytes() == DATA


def test_offline_returns_the_cached_file(server: TestServer, tmp_path: Path):
    """offline=True returns a validly cached file without any request."""
    url = server.add("/data.bin", DATA)
    path = get_file("data.bin", url, file_hash=sha256(DATA), cache_dir=tmp_path)
    assert get_file("data.bin", url, file_hash=sha256(DATA), cache_dir=tmp_path, offline=True) == path
    assert server.requests("/data.bin") == 1


@pytest.mark.parametrize("via_env", [False, True])
def test_offline_without_cached_file_raises(server: TestServer, tmp_path: Path, monkeypatch, via_env):
    """Offline (argument or KUTILS_OFFLINE=1) with nothing cached raises OfflineError and sends nothing."""
    url = server.add("/data.bin", DATA)
    if via_env:
        monkeypatch.setenv("KUTILS_OFFLINE", "1")
    with pytest.raises(OfflineError, match="offline mode is on") as info:
        get_file("data.bin", url, cache_dir=tmp_path, offline=None if via_env else True)
    assert isinstance(info.value, DownloadError)
    assert info.value.url == url
    assert "data.bin is not in the cache" in str(info.value)
    assert server.requests("/data.bin") == 0


def test_offline_environment_variable_returns_the_cached_file_and_the_argument_wins(
    server: TestServer, tmp_path: Path, monkeypatch
):
    """KUTILS_OFFLINE=1 serves a cached file with no request; offline=False downloads despite it."""
    url = server.add("/data.bin", DATA)
    path = get_file("data.bin", url, cache_dir=tmp_path)
    monkeypatch.setenv("KUTILS_OFFLINE", "1")
    assert get_file("data.bin", url, cache_dir=tmp_path) == path
    assert server.requests("/data.bin") == 1
    other = get_file("other.bin", url, cache_dir=tmp_path, offline=False)
    assert Path(other).read_bytes() == DATA
    assert server.requests("/data.bin") == 2


def test_offline_with_stale_file_says_it_does_not_match(server: TestServer, tmp_path: Path):
    """Offline with a cached file of the wrong hash raises OfflineError saying so, keeping the file."""
    stale = tmp_path / "datasets" / "data.bin"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    url = server.add("/data.bin", DATA)
    with pytest.raises(OfflineError, match="does not match file_hash"):
        get_file("data.bin", url, file_hash=sha256(DATA), cache_dir=tmp_path, offline=True)
    assert stale.read_bytes() == b"old"


def test_offline_with_force_download_says_why(server: TestServer, tmp_path: Path):
    """offline=True with force_download=True raises OfflineError naming force_download, keeping the file."""
    url = server.add("/data.bin", DATA)
    path = get_file("data.bin", url, cache_dir=tmp_path)
    with pytest.raises(OfflineError, match="force_download=True"):
        get_file("data.bin", url, cache_dir=tmp_path, offline=True, force_download=True)
    assert Path(path).read_bytes() == DATA
    assert server.requests("/data.bin") == 1


@pytest.mark.parametrize("umask", [0o022, 0o007])
def test_downloaded_file_honours_the_umask(server: TestServer, tmp_path: Path, umask: int):
    """Downloaded files get 0666 minus the umask (not the 0600 of NamedTemporaryFile)."""
    previous = os.umask(umask)
    try:
        path = get_file("data.bin", server.add("/data.bin", DATA), cache_dir=tmp_path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask


def test_progress_bar_when_asked(server: TestServer, tmp_path: Path, capsys):
    """progress=True draws the kutils Progbar up to the byte count; progress=False draws none."""
    get_file("a.bin", server.add("/a.bin", DATA), cache_dir=tmp_path, progress=True)
    assert f"{len(DATA)}/{len(DATA)} [" in capsys.readouterr().out
    get_file("b.bin", server.add("/b.bin", DATA), cache_dir=tmp_path, progress=False)
    assert "[" not in capsys.readouterr().out


def test_no_progress_bar_in_logs_by_default(server: TestServer, tmp_path: Path, capsys):
    """With progress=None and a non-terminal stdout (a log), only the 2.2.4 'Downloading' line is printed."""
    url = server.add("/a.bin", DATA)
    get_file("a.bin", url, cache_dir=tmp_path)
    assert capsys.readouterr().out == f"Downloading data from {url}\n"


def test_unwritable_cache_dir_falls_back_to_tempdir_keras(server: TestServer, tmp_path: Path):
    """A cache_dir that cannot be created falls back to <tempdir>/.keras with a warning (root-proof)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.warns(UserWarning, match="cannot be used"):
        path = get_file("data.bin", server.add("/data.bin", DATA), cache_dir=blocker / "cache")
    assert path == str(tmp_path / "tmp" / ".keras" / "datasets" / "data.bin")
    assert Path(path).read_bytes() == DATA


def test_unwritable_home_falls_back_to_tempdir_keras(server: TestServer, tmp_path: Path, monkeypatch):
    """With cache_dir=None and a ~/.keras that cannot be created, the file goes to <tempdir>/.keras."""
    home = tmp_path / "home-is-a-file"
    home.write_text("not a folder")
    monkeypatch.setenv("HOME", str(home))
    with pytest.warns(UserWarning, match="home-is-a-file"):
        path = get_file("data.bin", server.add("/data.bin", DATA), cache_subdir="models")
    assert path == str(tmp_path / "tmp" / ".keras" / "models" / "data.bin")
    assert Path(path).read_bytes() == DATA


def test_no_writable_cache_anywhere_raises_cache_dir_error(server: TestServer, tmp_path: Path, monkeypatch):
    """When the fallback cannot be written either, CacheDirError (a PermissionError) names both folders."""
    import tempfile

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(tempfile, "tempdir", str(blocker / "tmp"))
    with pytest.raises(CacheDirError, match="a-file/cache/datasets") as info:
        get_file("data.bin", server.add("/data.bin", DATA), cache_dir=blocker / "cache")
    assert isinstance(info.value, PermissionError)
    assert "a-file/tmp/.keras/datasets" in str(info.value)


def test_existing_user_cache_dir_is_used_even_if_new(server: TestServer, tmp_path: Path):
    """A cache_dir that does not exist yet is created (2.2.4 silently used /tmp/.keras instead)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = get_file("data.bin", server.add("/data.bin", DATA), cache_dir=tmp_path / "new" / "cache")
    assert path == str(tmp_path / "new" / "cache" / "datasets" / "data.bin")


def test_untar_returns_the_untarred_path(server: TestServer, tmp_path: Path):
    """untar=True saves fname.tar.gz, extracts it into the cache subdir and returns cache_subdir/fname."""
    archive = tar_bytes({"mnist/a.txt": b"alpha", "mnist/b.txt": b"beta"})
    path = get_file("mnist", server.add("/mnist.tgz", archive), untar=True, cache_dir=tmp_path)
    datadir = tmp_path / "datasets"
    assert path == str(datadir / "mnist")
    assert (datadir / "mnist.tar.gz").read_bytes() == archive
    assert (datadir / "mnist" / "b.txt").read_bytes() == b"beta"


def test_untar_does_not_extract_again_while_the_folder_exists(server: TestServer, tmp_path: Path):
    """As in 2.2.4, a second untar=True call finds cache_subdir/fname and neither downloads nor extracts."""
    url = server.add("/mnist.tgz", tar_bytes({"mnist/a.txt": b"alpha"}))
    path = Path(get_file("mnist", url, untar=True, cache_dir=tmp_path))
    (path / "a.txt").write_bytes(b"edited")
    assert get_file("mnist", url, untar=True, cache_dir=tmp_path) == str(path)
    assert (path / "a.txt").read_bytes() == b"edited"
    assert server.requests("/mnist.tgz") == 1


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w"])
def test_extract_returns_the_archive_path_and_extracts_next_to_it(server: TestServer, tmp_path: Path, mode):
    """extract=True extracts tar/tar.gz/tar.bz2 into the cache subdir and returns the archive path (2.2.4)."""
    archive = tar_bytes({"set/x.txt": b"x" * 10}, mode=mode)
    path = get_file("set.tar", server.add("/set.tar", archive), extract=True, cache_dir=tmp_path)
    assert path == str(tmp_path / "datasets" / "set.tar")
    assert (tmp_path / "datasets" / "set" / "x.txt").read_bytes() == b"x" * 10


def test_extract_a_zip(server: TestServer, tmp_path: Path):
    """extract=True extracts zip archives too."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("z/inner.txt", "zipped")
    get_file("z.zip", server.add("/z.zip", buffer.getvalue()), extract=True, cache_dir=tmp_path)
    assert (tmp_path / "datasets" / "z" / "inner.txt").read_text() == "zipped"


def test_extract_of_a_non_archive_warns_and_returns_the_file(server: TestServer, tmp_path: Path):
    """extract=True on a file that is no archive warns and still returns its path."""
    with pytest.warns(UserWarning, match="nothing was extracted"):
        path = get_file("plain.bin", server.add("/plain.bin", DATA), extract=True, cache_dir=tmp_path)
    assert Path(path).read_bytes() == DATA


def test_extraction_is_not_repeated_for_an_unchanged_archive(server: TestServer, tmp_path: Path):
    """A second extract=True call leaves extracted files alone; a deleted entry is extracted again."""
    url = server.add("/set.tgz", tar_bytes({"set/x.txt": b"original"}))
    get_file("set.tgz", url, extract=True, cache_dir=tmp_path)
    extracted = tmp_path / "datasets" / "set" / "x.txt"
    extracted.write_bytes(b"edited by the user")
    get_file("set.tgz", url, extract=True, cache_dir=tmp_path)
    assert extracted.read_bytes() == b"edited by the user"
    import shutil

    shutil.rmtree(tmp_path / "datasets" / "set")
    get_file("set.tgz", url, extract=True, cache_dir=tmp_path)
    assert extracted.read_bytes() == b"original"


def test_a_new_archive_is_extracted_again(server: TestServer, tmp_path: Path):
    """When the archive is re-downloaded (hash changed), it is extracted again over the old tree."""
    old, new = tar_bytes({"set/x.txt": b"v1"}), tar_bytes({"set/x.txt": b"v2"})
    get_file("set.tgz", server.add("/v1.tgz", old), extract=True, cache_dir=tmp_path)
    get_file("set.tgz", server.add("/v2.tgz", new), file_hash=sha256(new), extract=True, cache_dir=tmp_path)
    assert (tmp_path / "datasets" / "set" / "x.txt").read_bytes() == b"v2"


def test_failed_extraction_keeps_the_cache_folder(server: TestServer, tmp_path: Path):
    """A corrupt archive raises a tarfile error and, unlike 2.2.4, deletes nothing in the cache folder."""
    keep = tmp_path / "datasets" / "other-dataset.npz"
    keep.parent.mkdir(parents=True)
    keep.write_bytes(b"precious")
    good = tar_bytes({"big/x.bin": payload(200_000)}, mode="w")
    corrupt = good[:1024] + b"\0" * 10 + good[1034:4096]  # header then truncated body
    with pytest.raises((tarfile.TarError, EOFError, OSError)):
        get_file("broken.tar", server.add("/broken.tar", corrupt), extract=True, cache_dir=tmp_path)
    assert keep.read_bytes() == b"precious"
    assert not (tmp_path / "datasets" / "big").exists()
    assert not [n for n in os.listdir(tmp_path / "datasets") if n.startswith(".kutils-extract-")]


def test_validate_file_algorithms(tmp_path: Path):
    """validate_file checks sha256, md5 and 'auto' (which raised TypeError in 2.2.4), case-insensitively."""
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    assert validate_file(path, sha256(DATA))
    assert validate_file(str(path), md5(DATA), algorithm="auto")
    assert validate_file(path, md5(DATA), algorithm="md5", chunk_size=7)
    assert validate_file(path, sha256(DATA).upper(), algorithm="sha256")
    assert not validate_file(path, sha256(b"other"))
    assert not validate_file(path, md5(DATA), algorithm="sha256")


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"file_hash": "not-hex"}, "'not-hex'"),
        ({"file_hash": "abc123"}, "'abc123'"),
        ({"file_hash": "ab" * 32, "hash_algorithm": "sha9"}, "'sha9'"),
        ({"timeout": 0}, "timeout=0"),
        ({"retries": -1}, "retries=-1"),
        ({"retry_backoff": -1.0}, "retry_backoff=-1.0"),
        ({"verify": "sometimes"}, "verify='sometimes'"),
        ({"extract": True, "archive_format": "rar"}, "'rar'"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(server: TestServer, tmp_path: Path, kwargs, bad):
    """Invalid options raise ValueError whose message names the bad value."""
    url = server.add("/data.bin", tar_bytes({"d/x": b"1"}))
    with pytest.raises(ValueError, match=re.escape(bad)):
        get_file("data.bin", url, cache_dir=tmp_path, **kwargs)


def test_bad_origin_raises_value_error(tmp_path: Path):
    """An origin that is not http(s):// or file:// raises ValueError naming it."""
    with pytest.raises(ValueError, match=re.escape("'ftp://example.org/x'")):
        get_file("x", "ftp://example.org/x", cache_dir=tmp_path)


def test_bad_verify_environment_value(server: TestServer, tmp_path: Path, monkeypatch):
    """An invalid KUTILS_VERIFY raises ValueError naming the variable and value."""
    monkeypatch.setenv("KUTILS_VERIFY", "never")
    with pytest.raises(ValueError, match=r"\$KUTILS_VERIFY='never'"):
        get_file("data.bin", server.add("/data.bin", DATA), cache_dir=tmp_path)


def test_validate_file_rejects_a_hash_of_unknown_length(tmp_path: Path):
    """validate_file with 'auto' and a hash of unknown length raises ValueError naming it."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match="'abcd'"):
        validate_file(path, "abcd")


def test_validate_file_needs_a_hash(tmp_path: Path):
    """validate_file(path, None) raises ValueError naming the missing hash and the file."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match="file_hash=None"):
        validate_file(path, None)  # type: ignore[arg-type]
