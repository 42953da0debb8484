"""`get_file` and `validate_file`: the Keras 2.2.4 downloader, made atomic, concurrent-safe and fast.

A download streams into a unique temporary file next to its final name,
hashing while it streams, checks the size announced by the server and the
expected hash, then renames the file into place: the final name only ever
holds a complete file. Processes asking for the same file take turns on a
best-effort lock, so one of them downloads and the others reuse its file.
A hash verified once is remembered in a small hidden record next to the file
(keyed by its size, modification time and inode), so a cache hit does not
re-read gigabytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import queue
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from .archives import UnsafeArchiveError, extract_archive
from .progbar import Progbar, _is_interactive

__all__ = [
    "CacheDirError",
    "DownloadError",
    "HashMismatchError",
    "OfflineError",
    "UnsafeArchiveError",
    "get_file",
    "validate_file",
]

# Seconds to wait for the server to connect or to send the next bytes.
DEFAULT_TIMEOUT = 30.0
# Environment variables: KUTILS_OFFLINE=1 never downloads; KUTILS_VERIFY=always re-hashes cache hits.
OFFLINE_ENV = "KUTILS_OFFLINE"
VERIFY_ENV = "KUTILS_VERIFY"

_CHUNK_SIZE = 1 << 20
# Reused download buffers of _CHUNK_SIZE bytes (filled, being written or waiting to be hashed), at most.
_BUFFERS = 8
_MAX_BACKOFF = 10.0
# A temporary download untouched for this long belongs to a dead process.
_STALE_PART_SECONDS = 3600.0
_HASH_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_TRUE_WORDS = ("1", "true", "yes", "on")


class DownloadError(OSError):
    """The file could not be fetched from its origin.

    Its message starts like Keras 2.2.4's `Exception('URL fetch failure on ...')`,
    so code catching `Exception` (or matching the text) keeps working.

    Attributes:
        url: The origin URL.
        path: The cache path the file was meant for.
        status: The HTTP status code, or None for network errors.
        reason: What went wrong, in words.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        path: str | None = None,
        status: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.path = path
        self.status = status
        self.reason = reason


class OfflineError(DownloadError):
    """Offline mode is on and the file is not (validly) in the cache."""


class HashMismatchError(ValueError):
    """A downloaded file does not have the expected hash; it was deleted, nothing was cached.

    Attributes:
        url: The origin URL.
        path: The cache path the file was meant for.
        algorithm: The hash algorithm, e.g. 'sha256'.
        expected: The expected hex digest (`file_hash`).
        actual: The hex digest of what was downloaded.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        path: str | None = None,
        algorithm: str | None = None,
        expected: str | None = None,
        actual: str | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.path = path
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual


class CacheDirError(PermissionError):
    """Neither the cache folder nor the temporary-folder fallback can be written.

    Attributes:
        path: The cache folder that was tried first.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


def get_file(
    fname: str | None,
    origin: str,
    untar: bool = False,
    md5_hash: str | None = None,
    file_hash: str | None = None,
    cache_subdir: str = "datasets",
    hash_algorithm: str = "auto",
    extract: bool = False,
    archive_format: str | list[str] | None = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    force_download: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = 3,
    retry_backoff: float = 1.0,
    verify: str | None = None,
    offline: bool | None = None,
    progress: bool | None = None,
) -> str:
    """Downloads a file from a URL if it is not already in the cache.

    The file at `origin` goes to `cache_dir/cache_subdir/fname`, by default
    `~/.keras/datasets/fname` (`$KERAS_HOME` replaces `~/.keras` when set;
    `<tempdir>/.keras` is used when the cache folder cannot be written).
    Archives (tar, tar.gz, tar.bz2, zip) can be extracted next to the file.

    Args:
        fname: Name of the file. An absolute path saves the file there. None
            takes the last part of the URL path.
        origin: URL of the file: `http://`, `https://` or `file://`.
        untar: Deprecated in favour of `extract`. Whether the file is a
            `.tar.gz` to extract: the archive is saved as `fname + '.tar.gz'`,
            extracted when `cache_subdir/fname` does not exist, and
            `cache_subdir/fname` is returned.
        md5_hash: Deprecated in favour of `file_hash`: the md5 of the file.
        file_hash: The expected hex hash of the file (md5, sha1, sha256 or
            sha512). A cached file that does not match is downloaded again;
            a download that does not match raises `HashMismatchError`.
        cache_subdir: Folder under the cache folder; an absolute path is used
            as it is.
        hash_algorithm: 'md5', 'sha256' (or any `hashlib` name), or 'auto' to
            pick the algorithm from the length of `file_hash`.
        extract: Whether to extract the file as a tar or zip archive into
            the folder that holds it. Not repeated while the archive and the
            extracted entries are unchanged.
        archive_format: 'auto' (tar, then zip), 'tar', 'zip', a list of these,
            or None.
        cache_dir: The cache folder; None means `$KERAS_HOME` or `~/.keras`.
        force_download: Keyword-only. Download even if the file is cached.
        timeout: Keyword-only. Seconds to wait for the connection or the next
            bytes from the server.
        retries: Keyword-only. Extra attempts after a network error, an HTTP
            5xx/408/429 answer, a truncated body or a hash mismatch. An
            interrupted transfer resumes with an HTTP Range request when the
            server supports it; an attempt that gets further into the file
            than any before starts the count again.
        retry_backoff: Keyword-only. Seconds to wait before the first retry;
            doubled at each retry, at most 10 s.
        verify: Keyword-only. 'once' (default) trusts a hash verified before
            while the file's size, modification time and inode are
            unchanged; 'always' re-hashes the cached file on every call like
            Keras. None reads `$KUTILS_VERIFY`, else 'once'.
        offline: Keyword-only. True never downloads: it returns the cached
            file or raises `OfflineError`. None reads `$KUTILS_OFFLINE`.
        progress: Keyword-only. Whether to show a progress bar; None shows one
            only where the `Progbar` redraws in place (a terminal or Jupyter).

    Returns:
        The path of the downloaded file, as a string; with `untar=True`, the
        path of the extracted entry `cache_subdir/fname`.

    Raises:
        DownloadError: If the file cannot be fetched (an `OSError`; its message
            starts with 'URL fetch failure on').
        OfflineError: If offline and the file is not validly cached.
        HashMismatchError: If the downloaded file does not match `file_hash`
            (a `ValueError`); the download is deleted.
        CacheDirError: If no cache folder can be written.
        UnsafeArchiveError: If `extract`/`untar` meets a member that would
            escape the folder (a `ValueError`); nothing is extracted.
        ValueError: If an argument is invalid (the message names it).

    Example:

    ```python
    path = get_file(
        "mnist.npz",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        file_hash="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    )
    ```
    """
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    want = _Expected.parse(file_hash, hash_algorithm)
    options = _Options.parse(timeout, retries, retry_backoff, verify, offline, progress)
    if fname is None:
        fname = _name_from_url(origin)
    _check_origin(origin)

    datadir = _cache_folder(cache_dir, cache_subdir)
    untar_fpath = os.path.join(datadir, fname)
    fpath = untar_fpath + ".tar.gz" if untar else untar_fpath
    os.makedirs(os.path.dirname(fpath), exist_ok=True)

    downloaded = False
    if force_download or not _is_cached(fpath, want, options, announce=True):
        if options.offline:
            raise _offline_error(origin, fpath, force_download=force_download)
        with _cache_lock(fpath):
            if force_download or not _is_cached(fpath, want, options, announce=False):
                _download(origin, fpath, want, options)
                downloaded = True

    if untar:
        if downloaded or not os.path.exists(untar_fpath):
            _extract_once(fpath, datadir, "tar", force=downloaded)
        return untar_fpath
    if extract:
        _extract_once(fpath, datadir, archive_format, force=downloaded)
    return fpath


def validate_file(
    fpath: str | os.PathLike[str], file_hash: str, algorithm: str = "auto", chunk_size: int = 65535
) -> bool:
    """Validates a file against a hash (md5, sha1, sha256 or sha512).

    Always reads the whole file (the verified-hash record of `get_file` is
    neither used nor changed). Hex digits compare case-insensitively.

    Args:
        fpath: Path of the file to validate.
        file_hash: The expected hex hash of the file.
        algorithm: 'md5', 'sha256' (or any `hashlib` name), or 'auto' to pick
            the algorithm from the length of `file_hash`.
        chunk_size: Bytes to read at a time.

    Returns:
        Whether the file has the expected hash.

    Raises:
        ValueError: If `file_hash` is not a hex string of a known length for
            'auto', or `algorithm` is unknown.
        OSError: If the file cannot be read.

    Example:

    ```python
    validate_file("data.tar.gz", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    ```
    """
    want = _Expected.parse(file_hash, algorithm)
    if want is None:
        raise ValueError(f"file_hash={file_hash!r} must be the expected hex hash of {os.fspath(fpath)!r}.")
    with open(fpath, "rb") as stream:
        return _hash_stream(stream, want.algorithm, chunk_size) == want.digest


@dataclass(frozen=True)
class _Expected:
    """A normalised `file_hash` and its algorithm."""

    digest: str
    algorithm: str

    @classmethod
    def parse(cls, file_hash: str | None, algorithm: str) -> _Expected | None:
        if file_hash is None:
            return None
        digest = str(file_hash).strip().lower()
        if not digest or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"file_hash={file_hash!r} is not a hexadecimal hash string.")
        name = str(algorithm).lower()
        if name == "auto":
            if len(digest) not in _HASH_LENGTHS:
                raise ValueError(
                    f"file_hash={file_hash!r} has {len(digest)} hex digits; with hash_algorithm='auto' "
                    "expected 32 (md5), 40 (sha1), 64 (sha256) or 128 (sha512). "
                    "Pass hash_algorithm= to name the algorithm."
                )
            return cls(digest, _HASH_LENGTHS[len(digest)])
        if name not in hashlib.algorithms_available:
            raise ValueError(
                f"hash_algorithm={algorithm!r} is not a known hash algorithm; "
                "expected 'auto', 'md5', 'sha256' or another hashlib name."
            )
        return cls(digest, name)


@dataclass(frozen=True)
class _Options:
    """The keyword-only download options, validated."""

    timeout: float
    retries: int
    retry_backoff: float
    always_verify: bool
    offline: bool
    progress: bool

    @classmethod
    def parse(
        cls,
        timeout: float,
        retries: int,
        retry_backoff: float,
        verify: str | None,
        offline: bool | None,
        progress: bool | None,
    ) -> _Options:
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
            raise ValueError(f"timeout={timeout!r} must be a positive number of seconds.")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ValueError(f"retries={retries!r} must be an integer >= 0.")
        if not isinstance(retry_backoff, (int, float)) or not retry_backoff >= 0:
            raise ValueError(f"retry_backoff={retry_backoff!r} must be a number of seconds >= 0.")
        mode = verify if verify is not None else os.environ.get(VERIFY_ENV, "once").strip().lower() or "once"
        if mode not in ("once", "always"):
            source = f"verify={verify!r}" if verify is not None else f"${VERIFY_ENV}={mode!r}"
            raise ValueError(f"{source} must be 'once' or 'always'.")
        if offline is None:
            offline = os.environ.get(OFFLINE_ENV, "").strip().lower() in _TRUE_WORDS
        if progress is None:
            progress = _is_interactive(sys.stdout)
        return cls(float(timeout), retries, float(retry_backoff), mode == "always", offline, progress)


def _name_from_url(origin: str) -> str:
    name = os.path.basename(urlsplit(str(origin)).path)
    if not name:
        raise ValueError(
            f"fname=None needs an origin whose path ends with a file name, got origin={origin!r}."
        )
    return name


def _check_origin(origin: str) -> None:
    scheme = urlsplit(str(origin)).scheme.lower() if isinstance(origin, str) else ""
    if scheme not in ("http", "https", "file"):
        raise ValueError(
            f"origin={origin!r} is not an http://, https:// or file:// URL. "
            "For a local file, use pathlib.Path(path).resolve().as_uri()."
        )


# --- the cache folder -------------------------------------------------------------------------


def _cache_folder(cache_dir: str | os.PathLike[str] | None, cache_subdir: str) -> str:
    """Creates and returns the cache folder, falling back to `<tempdir>/.keras`."""
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    datadir = os.path.join(os.path.expanduser(os.fspath(cache_dir)), cache_subdir)
    problem = _make_writable_folder(datadir)
    if problem is None:
        return datadir
    fallback = os.path.join(tempfile.gettempdir(), ".keras", cache_subdir)
    fallback_problem = _make_writable_folder(fallback) if fallback != datadir else problem
    if fallback_problem is None:
        warnings.warn(
            f"The cache folder {datadir!r} cannot be used ({problem}); using {fallback!r} instead. "
            "Pass cache_dir= or set $KERAS_HOME to a writable folder to choose where files go.",
            stacklevel=3,
        )
        return fallback
    raise CacheDirError(
        f"Cannot write the cache folder {datadir!r} ({problem}) nor the fallback {fallback!r} "
        f"({fallback_problem}). Pass cache_dir= or set $KERAS_HOME to a writable folder.",
        path=datadir,
    )


def _make_writable_folder(folder: str) -> str | None:
    """Creates `folder`; returns None if it is a writable folder, else why not."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        return error.strerror or str(error)
    if not os.access(folder, os.W_OK | os.X_OK):
        return "not writable"
    return None


# --- cache hits and the verified-hash record ---------------------------------------------------


def _is_cached(fpath: str, want: _Expected | None, options: _Options, *, announce: bool) -> bool:
    """Whether `fpath` exists and, if a hash is expected, has it."""
    try:
        if want is None:
            return os.path.isfile(fpath)
        if _cached_digest(fpath, want.algorithm, rehash=options.always_verify) == want.digest:
            return True
    except FileNotFoundError:
        return False
    if announce:
        print(
            "A local file was found, but it seems to be incomplete or outdated because the "
            f"{want.algorithm} file hash does not match the original value of {want.digest} "
            "so we will re-download the data."
        )
    return False


def _cached_digest(fpath: str, algorithm: str, *, rehash: bool) -> str:
    """The digest of `fpath`, from its record when the file is unchanged since it was recorded."""
    with open(fpath, "rb") as stream:
        before = os.fstat(stream.fileno())
        if not rehash:
            known = _read_record(fpath, before).get("hashes", {}).get(algorithm)
            if isinstance(known, str):
                return known
        digest = _hash_stream(stream, algorithm, _CHUNK_SIZE)
        if _file_key(os.fstat(stream.fileno())) == _file_key(before):
            _update_record(fpath, before, hashes={algorithm: digest})
    return digest


def _hash_stream(stream: Any, algorithm: str, chunk_size: int) -> str:
    hasher = hashlib.new(algorithm)
    buffer = bytearray(max(1, chunk_size))
    view = memoryview(buffer)
    while count := stream.readinto(buffer):
        hasher.update(view[:count])
    return hasher.hexdigest()


def _record_path(fpath: str) -> str:
    folder, name = os.path.split(fpath)
    return os.path.join(folder, f".{name}.kutils.json")


def _file_key(info: os.stat_result) -> list[int]:
    return [info.st_size, info.st_mtime_ns, info.st_ino, info.st_dev]


def _read_record(fpath: str, info: os.stat_result) -> dict[str, Any]:
    """The record of `fpath`, or {} if there is none or it describes another file."""
    try:
        with open(_record_path(fpath), encoding="utf-8") as stream:
            record = json.load(stream)
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict) or record.get("key") != _file_key(info):
        return {}
    return record


def _update_record(fpath: str, info: os.stat_result, **sections: dict[str, Any]) -> None:
    """Merges `sections` into the record of the file described by `info` (best effort)."""
    record = _read_record(fpath, info) or {"key": _file_key(info)}
    for section, values in sections.items():
        record.setdefault(section, {}).update(values)
    target = _record_path(fpath)
    temporary = f"{target}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as stream:
            json.dump(record, stream)
        os.replace(temporary, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


# --- the best-effort lock ----------------------------------------------------------------------


@contextlib.contextmanager
def _cache_lock(fpath: str) -> Iterator[None]:
    """Holds an exclusive `flock` on a hidden lock file next to `fpath`, if the platform allows.

    Only saves duplicate downloads: the unique temporary file and the rename
    keep the cache correct when the lock is not available or not honoured.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    folder, name = os.path.split(fpath)
    try:
        descriptor = os.open(os.path.join(folder, f".{name}.kutils.lock"), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"Waiting for another process that is downloading {fpath}")
            with contextlib.suppress(OSError):
                fcntl.flock(descriptor, fcntl.LOCK_EX)
        except OSError:  # the file system does not support locks
            pass
        yield
    finally:
        os.close(descriptor)


# --- downloading -------------------------------------------------------------------------------


class _Retry(Exception):
    """An attempt failed in a way another attempt may fix."""

    def __init__(self, error: Exception, *, restart: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.restart = restart


class _Sink:
    """The temporary file being downloaded, its size, and its hash computed on a helper thread.

    Bytes are read straight into a few reused buffers (no allocation or copy
    per chunk). The helper thread hashes a filled buffer while the calling
    thread writes it to the file and reads the next one (`hashlib` releases
    the GIL on large buffers), then hands the buffer back: hashing costs no
    extra pass and little extra time.
    """

    def __init__(self, descriptor: int, algorithm: str) -> None:
        self.descriptor = descriptor
        self.algorithm = algorithm
        self.size = 0
        self._free: queue.Queue[bytearray] = queue.Queue()
        self._buffers = 0
        self._start_hashing()

    def fill(self, read_into: Callable[[memoryview], int]) -> int:
        """Appends the bytes `read_into(buffer)` reads to the file and the hash; returns their count.

        Returns 0 at the end of the body. What `read_into` read before raising
        is lost, so `size` only ever counts bytes that are in the file.
        """
        buffer = self._take_buffer()
        try:
            count = read_into(memoryview(buffer))
        except BaseException:
            self._free.put(buffer)
            raise
        if not count:
            self._free.put(buffer)
            return 0
        self._filled.put((buffer, count))  # the hashing thread only reads it, then gives it back
        view = memoryview(buffer)[:count]
        while view:
            view = view[os.write(self.descriptor, view) :]
        self.size += count
        return count

    def hexdigest(self) -> str:
        """The hash of everything written; writing again needs `restart()`."""
        self._stop_hashing()
        return self._hasher.hexdigest()

    def restart(self) -> None:
        """Empties the file and the hash."""
        self._stop_hashing()
        os.ftruncate(self.descriptor, 0)
        os.lseek(self.descriptor, 0, os.SEEK_SET)
        self.size = 0
        self._start_hashing()

    def close(self) -> None:
        """Stops the hashing thread (the file descriptor stays open)."""
        self._stop_hashing()

    def _take_buffer(self) -> bytearray:
        """A free buffer; a new one while fewer than `_BUFFERS` exist, else waits for the hashing thread."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            if self._buffers < _BUFFERS:
                self._buffers += 1
                return bytearray(_CHUNK_SIZE)
            return self._free.get()

    def _start_hashing(self) -> None:
        self._hasher = hashlib.new(self.algorithm)
        self._filled: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
        self._thread = threading.Thread(
            target=_hash_buffers,
            args=(self._hasher, self._filled, self._free),
            name="kutils-get_file-hash",
            daemon=True,
        )
        self._thread.start()

    def _stop_hashing(self) -> None:
        if self._thread.is_alive():
            self._filled.put(None)
            self._thread.join()


def _hash_buffers(
    hasher: Any, filled: queue.Queue[tuple[bytearray, int] | None], free: queue.Queue[bytearray]
) -> None:
    """Hashes each `(buffer, count)` handed over, then returns the buffer to `free`."""
    while (item := filled.get()) is not None:
        buffer, count = item
        hasher.update(memoryview(buffer)[:count])
        free.put(buffer)


class _Progress:
    """Feeds a kutils `Progbar` with the bytes received, when enabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def start(self, total: int | None) -> None:
        if self.enabled and self.bar is None:
            self.bar = Progbar(total)

    def update(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(done)


def _download(origin: str, fpath: str, want: _Expected | None, options: _Options) -> None:
    """Downloads `origin` into `fpath` atomically and records the verified hash."""
    folder, name = os.path.split(fpath)
    _remove_stale_parts(folder, name)
    part = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:12]}.part")
    print("Downloading data from", origin)
    descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    sink = _Sink(descriptor, want.algorithm if want else "sha256")
    try:
        digest = _fetch_with_retries(origin, fpath, sink, want, options)
        info = os.fstat(descriptor)
        os.close(descriptor)
        descriptor = -1
        os.replace(part, fpath)
    finally:
        sink.close()
        if descriptor >= 0:
            os.close(descriptor)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)
    _update_record(fpath, info, hashes={sink.algorithm: digest})


def _remove_stale_parts(folder: str, name: str) -> None:
    """Deletes temporary downloads of `name` left by killed processes (untouched for an hour)."""
    prefix, now = f".{name}.", time.time()
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(prefix) and entry.name.endswith(".part"):
                with contextlib.suppress(OSError):
                    if now - entry.stat(follow_symlinks=False).st_mtime > _STALE_PART_SECONDS:
                        os.unlink(entry.path)


def _fetch_with_retries(
    origin: str, fpath: str, sink: _Sink, want: _Expected | None, options: _Options
) -> str:
    """Fetches into `sink`, retrying as `options` allow; returns the hex digest of the file."""
    progress = _Progress(options.progress)
    failures = 0  # failed attempts in a row that got no further into the file than an earlier one
    furthest = 0
    session = None
    try:
        while True:
            try:
                if urlsplit(origin).scheme.lower() == "file":
                    _fetch_local(origin, fpath, sink, progress)
                else:
                    if session is None:
                        session = _new_session()
                    _fetch_http(session, origin, fpath, sink, options, progress)
                return _checked_digest(origin, fpath, sink, want)
            except _Retry as retry:
                if sink.size > furthest:  # a flaky link that still makes headway, not a dead end
                    furthest, failures = sink.size, 0
                failures += 1
                if failures > options.retries:
                    raise retry.error from None
                if retry.restart:
                    sink.restart()
                wait = min(options.retry_backoff * 2 ** (failures - 1), _MAX_BACKOFF)
                print(f"{retry.error} Retrying in {wait:.3g} s ({options.retries - failures + 1} left).")
                time.sleep(wait)
    finally:
        if session is not None:
            session.close()


def _checked_digest(origin: str, fpath: str, sink: _Sink, want: _Expected | None) -> str:
    actual = sink.hexdigest()
    if want is not None and actual != want.digest:
        error = HashMismatchError(
            f"Incomplete or corrupted file detected. The {want.algorithm} hash of the file downloaded "
            f"from {origin} is {actual}, but file_hash={want.digest!r} was expected. The download was "
            f"deleted, nothing was cached at {fpath}. The file on the server may have changed, or "
            "file_hash may be wrong.",
            url=origin,
            path=fpath,
            algorithm=want.algorithm,
            expected=want.digest,
            actual=actual,
        )
        raise _Retry(error, restart=True)
    return actual


def _fetch_local(origin: str, fpath: str, sink: _Sink, progress: _Progress) -> None:
    """Copies a `file://` origin into the sink."""
    parts = urlsplit(origin)
    if parts.netloc not in ("", "localhost"):
        raise _fetch_error(origin, fpath, None, f"file:// URLs on host {parts.netloc!r} are not supported")
    sink.restart()
    try:
        stream = open(url2pathname(parts.path), "rb")  # noqa: SIM115 - closed below, read errors kept apart
    except OSError as error:
        raise _fetch_error(origin, fpath, None, error.strerror or str(error)) from error
    with stream:
        progress.start(os.fstat(stream.fileno()).st_size)
        while sink.fill(stream.readinto):
            progress.update(sink.size)


def _new_session() -> Any:
    import requests

    from . import __version__

    session = requests.Session()
    session.headers["User-Agent"] = f"kutils/{__version__} {requests.utils.default_user_agent()}"
    # The bytes as stored on the server, like urlretrieve: no transparent gzip decoding.
    session.headers["Accept-Encoding"] = "identity"
    return session


def _fetch_http(
    session: Any, origin: str, fpath: str, sink: _Sink, options: _Options, progress: _Progress
) -> None:
    """One HTTP attempt: resumes after `sink.size` bytes when the server honours Range."""
    import requests
    import urllib3

    headers = {"Range": f"bytes={sink.size}-"} if sink.size else {}
    try:
        response = session.get(origin, stream=True, timeout=options.timeout, headers=headers)
    except requests.exceptions.SSLError as error:
        raise _fetch_error(origin, fpath, None, f"{error} {_tls_hint(error)}") from error
    except (requests.ConnectionError, requests.Timeout) as error:
        raise _Retry(_fetch_error(origin, fpath, None, str(error)), restart=False) from error
    except requests.RequestException as error:
        raise _fetch_error(origin, fpath, None, str(error)) from error
    with response:
        status = response.status_code
        if status >= 400:
            failure = _fetch_error(origin, fpath, status, response.reason or "")
            if status >= 500 or status in (408, 429) or (status == 416 and sink.size):
                raise _Retry(failure, restart=True)
            raise failure
        if sink.size and not (status == 206 and _range_start(response) == sink.size):
            sink.restart()  # the server ignored Range: start again from this full answer
        remaining = response.headers.get("Content-Length")
        expected = sink.size + int(remaining) if remaining and remaining.isdigit() else None
        progress.start(expected)
        read_body_into = _body_reader(response)

        def read_into(buffer: memoryview) -> int:
            try:
                return read_body_into(buffer)
            except (
                requests.RequestException,
                urllib3.exceptions.HTTPError,
                http.client.HTTPException,
                OSError,
            ) as error:
                reason = f"the connection broke after {sink.size} of {expected or 'unknown'} bytes ({error})"
                raise _Retry(_fetch_error(origin, fpath, status, reason), restart=False) from error

        while sink.fill(read_into):
            progress.update(sink.size)
    if expected is not None and sink.size != expected:
        reason = f"received {sink.size} bytes but the server announced {expected}"
        raise _Retry(_fetch_error(origin, fpath, status, reason), restart=sink.size > expected)


def _body_reader(response: Any) -> Callable[[memoryview], int]:
    """The raw body's `readinto` (no content decoding): fills a buffer, returns the count, 0 at the end.

    The standard library response under urllib3 (`raw._fp`, an
    `http.client.HTTPResponse`) reads from the socket straight into the
    buffer. urllib3's own `readinto` (a read, then a copy) is the fallback for
    a urllib3 version without it. Both honour Content-Length and chunked
    encoding, and the socket's timeout.
    """
    raw = response.raw
    body = getattr(raw, "_fp", None)
    if isinstance(body, http.client.HTTPResponse):
        return body.readinto
    return raw.readinto


def _range_start(response: Any) -> int | None:
    """The first byte position of a 206 answer's `Content-Range: bytes N-M/T`."""
    value = response.headers.get("Content-Range", "")
    unit, _, span = value.partition(" ")
    start = span.partition("-")[0]
    return int(start) if unit == "bytes" and start.isdigit() else None


_CERTIFICATE_HINT = (
    "The server's TLS certificate could not be verified: install or update `certifi`, set "
    "$REQUESTS_CA_BUNDLE to your CA bundle (e.g. behind a corporate proxy), or on macOS python.org "
    "builds run 'Install Certificates.command'."
)
_HANDSHAKE_HINT = (
    "The TLS handshake failed: check that the server speaks https:// on this port (or use http://), "
    "and the proxy settings ($HTTPS_PROXY)."
)


def _tls_hint(error: Exception) -> str:
    """What to do about a TLS failure: fix the trusted certificates, or the URL / proxy."""
    return _CERTIFICATE_HINT if "CERTIFICATE_VERIFY_FAILED" in str(error) else _HANDSHAKE_HINT


def _fetch_error(origin: str, fpath: str, status: int | None, reason: str) -> DownloadError:
    return DownloadError(
        f"URL fetch failure on {origin} : {status} -- {reason}",
        url=origin,
        path=fpath,
        status=status,
        reason=reason,
    )


def _offline_error(origin: str, fpath: str, *, force_download: bool) -> OfflineError:
    if not os.path.exists(fpath):
        state = "is not in the cache"
    elif force_download:
        state = "is cached, but force_download=True asks for a new download"
    else:
        state = "does not match file_hash"
    reason = f"offline mode is on and {fpath} {state}"
    return OfflineError(
        f"URL fetch failure on {origin} : None -- {reason}; nothing was downloaded. "
        f"Run once with network access, or unset ${OFFLINE_ENV} / pass offline=False.",
        url=origin,
        path=fpath,
        reason=reason,
    )


# --- extraction --------------------------------------------------------------------------------


def _extract_once(fpath: str, datadir: str, archive_format: str | list[str] | None, *, force: bool) -> None:
    """Extracts `fpath` into `datadir` unless this very archive was already extracted there."""
    target = os.path.realpath(datadir)
    info = os.stat(fpath)
    done = _read_record(fpath, info).get("extracted", {}).get(target)
    if not force and done and all(os.path.lexists(os.path.join(datadir, n)) for n in done):
        return
    with _cache_lock(fpath):
        names = extract_archive(fpath, datadir, archive_format)
    if names is None:
        warnings.warn(
            f"{fpath!r} is not a {archive_format!r} archive, so nothing was extracted.",
            stacklevel=3,
        )
        return
    _update_record(fpath, info, extracted={target: names})
