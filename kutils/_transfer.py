"""The transfer behind `get_file`: one download, atomic, with retries and resumption.

A download streams into a unique temporary file next to its final name,
hashing while it streams, checks the size announced by the server and the
expected hash, then renames the file into place: the final name only ever
holds a complete file. A transfer broken off resumes with an HTTP Range
request when the server supports it, into the same version of the file
only (`If-Range` with the first answer's strong ETag or Last-Modified).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from ._cache import _update_record
from ._hashing import _Expected
from ._sink import Sink
from .errors import DownloadError, HashMismatchError
from .progbar import Progbar, _is_interactive

# Seconds to wait for the server to connect or to send the next bytes.
DEFAULT_TIMEOUT = 30.0
# Environment variables: KUTILS_OFFLINE=1 never downloads; KUTILS_VERIFY=always re-hashes cache hits.
OFFLINE_ENV = "KUTILS_OFFLINE"
VERIFY_ENV = "KUTILS_VERIFY"

_MAX_BACKOFF = 10.0
# A temporary download untouched for this long belongs to a dead process.
_STALE_PART_SECONDS = 3600.0
# Temporary downloads are named `.<name>.<this many hex digits>.part`.
_PART_TAG_LENGTH = 12
_TRUE_WORDS = ("1", "true", "yes", "on")


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


@dataclass
class _Version:
    """Which version of the file a download holds so far, to resume only into the same one.

    From each full (200) answer it keeps the strong `ETag`, else the
    `Last-Modified` date. A resumed request sends it as `If-Range`, so a
    server whose file changed answers 200 with the whole new file; a 206
    whose validator differs (a server ignoring If-Range) starts over too.
    With no validator at all, a transfer resumes only when `file_hash` will
    check the result; otherwise it is downloaded whole again, so a cached
    file is never half of one version and half of another.
    """

    hash_checks: bool
    validator: str | None = None
    header: str | None = None

    def remember(self, response: Any) -> None:
        etag = response.headers.get("ETag")
        if etag and not etag.startswith("W/"):
            self.header, self.validator = "ETag", etag
        elif response.headers.get("Last-Modified"):
            self.header, self.validator = "Last-Modified", response.headers["Last-Modified"]
        else:
            self.header = self.validator = None

    @property
    def may_resume(self) -> bool:
        return self.validator is not None or self.hash_checks

    def changed(self, response: Any) -> bool:
        """Whether a 206 answer describes another version than the bytes already received."""
        return self.header is not None and response.headers.get(self.header) != self.validator


class _Retry(Exception):
    """An attempt failed in a way another attempt may fix."""

    def __init__(self, error: Exception, *, restart: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.restart = restart


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


def _download(origin: str, fpath: str, want: _Expected | None, options: _Options, *, alone: bool) -> None:
    """Downloads `origin` into `fpath` atomically and records the verified hash.

    `alone`: the cache lock keeps every other process out, so any temporary
    download of the same name was left by a killed process.
    """
    folder, name = os.path.split(fpath)
    _remove_stale_parts(folder, name, any_age=alone)
    part = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:_PART_TAG_LENGTH]}.part")
    print("Downloading data from", origin)
    descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    sink = Sink(descriptor, want.algorithm if want else "sha256")
    try:
        digest = _fetch_with_retries(origin, fpath, sink, want, options)
        sink.trim()
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


def _remove_stale_parts(folder: str, name: str, *, any_age: bool) -> None:
    """Deletes temporary downloads of `name` left by killed processes.

    With `any_age` (the caller holds the cache lock, so no live process is
    writing one), all of them; otherwise those untouched for an hour.
    """
    ours, now = re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{{_PART_TAG_LENGTH}}}\.part"), time.time()
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if ours.fullmatch(entry.name):  # not `.<name>.gz.<tag>.part`, another file's
                with contextlib.suppress(OSError):
                    if any_age or now - entry.stat(follow_symlinks=False).st_mtime > _STALE_PART_SECONDS:
                        os.unlink(entry.path)


def _fetch_with_retries(
    origin: str, fpath: str, sink: Sink, want: _Expected | None, options: _Options
) -> str:
    """Fetches into `sink`, retrying as `options` allow; returns the hex digest of the file."""
    progress = _Progress(options.progress)
    version = _Version(hash_checks=want is not None)
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
                    _fetch_http(session, origin, fpath, sink, options, progress, version)
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


def _checked_digest(origin: str, fpath: str, sink: Sink, want: _Expected | None) -> str:
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


def _fetch_local(origin: str, fpath: str, sink: Sink, progress: _Progress) -> None:
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
    session: Any,
    origin: str,
    fpath: str,
    sink: Sink,
    options: _Options,
    progress: _Progress,
    version: _Version,
) -> None:
    """One HTTP attempt: resumes after `sink.size` bytes of the same `version` when the server allows."""
    import requests
    import urllib3

    if sink.size and not version.may_resume:
        sink.restart()  # no validator and no file_hash: a resumed file could mix two versions
    headers = {"Range": f"bytes={sink.size}-"} if sink.size else {}
    if sink.size and version.validator is not None:
        headers["If-Range"] = version.validator
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
        if sink.size and status == 206 and _range_start(response) == sink.size:
            if version.changed(response):  # a server that ignores If-Range, and the file changed
                reason = f"the file changed on the server during the download (its {version.header} differs)"
                raise _Retry(_fetch_error(origin, fpath, status, reason), restart=True)
        else:
            if sink.size:
                sink.restart()  # a full answer (the file changed, or Range ignored): start again from it
            version.remember(response)
        remaining = response.headers.get("Content-Length")
        expected = sink.size + int(remaining) if remaining and remaining.isdigit() else None
        progress.start(expected)
        if expected is not None:
            try:
                sink.reserve(expected)
            except OSError as error:  # a full disk, a quota, a file size limit: retrying cannot help
                reason = (
                    f"cannot allocate the {expected} bytes of the file in {os.path.dirname(fpath)!r} "
                    f"({error.strerror}); free some space or pass another cache_dir"
                )
                raise _fetch_error(origin, fpath, status, reason) from error
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
    fallback: Callable[[memoryview], int] = raw.readinto
    return fallback


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
