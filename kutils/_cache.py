"""The `get_file` cache: its folder, the best-effort lock, and the hidden record next to each file.

A hash verified once is remembered in a small hidden record next to the file
(keyed by its size, modification time and inode), so a cache hit does not
re-read gigabytes; the record also remembers where an archive was extracted,
so extraction is not repeated. Processes asking for the same file take turns
on a best-effort lock, so one of them downloads and the others reuse its file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

from ._hashing import _CHUNK_SIZE, _Expected, _hash_stream
from .archives import extract_archive
from .errors import CacheDirError

# --- the cache folder -------------------------------------------------------------------------


def _requested_folder(cache_dir: str | os.PathLike[str] | None, cache_subdir: str) -> str:
    """The cache folder asked for (`$KERAS_HOME` or `~/.keras` by default), without creating it."""
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(os.path.expanduser(os.fspath(cache_dir)), cache_subdir)


def _cache_folder(cache_dir: str | os.PathLike[str] | None, cache_subdir: str) -> str:
    """Creates and returns the cache folder, falling back to `<tempdir>/.keras`."""
    datadir = _requested_folder(cache_dir, cache_subdir)
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


def _is_cached(fpath: str, want: _Expected | None, *, rehash: bool, announce: bool) -> bool:
    """Whether `fpath` exists and, if a hash is expected, has it."""
    try:
        if want is None:
            if not os.path.isfile(fpath):
                return False
            change = _changed_in_place(fpath)
            if change is None:
                return True
            if announce:
                print(f"A local file was found, but {change}, so we will re-download the data.")
            return False
        if _cached_digest(fpath, want.algorithm, rehash=rehash) == want.digest:
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


def _changed_in_place(fpath: str) -> str | None:
    """Why the file get_file downloaded to `fpath` no longer holds what it downloaded, or None.

    Only a file changed in place counts: the same inode and device as
    recorded, another size or modification time, and a recorded hash that its
    bytes no longer have (truncated by a full disk or another program, or
    written over). A file that another program put there (another inode), or
    one without a record, is used as it is, as Keras 2.2.4 did.
    """
    try:
        with open(_record_path(fpath), encoding="utf-8") as stream:
            record = json.load(stream)
        with open(fpath, "rb") as file:
            info = os.fstat(file.fileno())
            key, hashes = record["key"], record["hashes"]
            if key == _file_key(info) or key[2:] != _file_key(info)[2:]:
                return None
            algorithm, digest = next(iter(hashes.items()))
            if _hash_stream(file, algorithm, _CHUNK_SIZE) == digest:
                _update_record(fpath, info, hashes={algorithm: digest})  # touched, not changed
                return None
    except (OSError, ValueError, TypeError, KeyError, IndexError, StopIteration):
        return None
    return f"it changed since it was downloaded ({key[0]} bytes then, {info.st_size} now)"


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

# One lock per lock file for the threads of this process; the POSIX record lock (`lockf`) on the
# file is for other processes. A record lock belongs to the process, not to the file descriptor:
# a forked child (an enqueuer's worker, os.fork, multiprocessing's 'fork') never holds it, unlike a
# `flock` whose inherited descriptor kept the lock until the child exited, and the kernel releases
# it when the process dies, even by SIGKILL.
_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _forget_thread_locks() -> None:
    """In a forked child: locks held by the parent's other threads would never be released here."""
    global _THREAD_LOCKS_GUARD
    _THREAD_LOCKS.clear()
    _THREAD_LOCKS_GUARD = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_thread_locks)


@contextlib.contextmanager
def _cache_lock(fpath: str) -> Iterator[bool]:
    """Holds the lock of `fpath` (a hidden lock file next to it) against other threads and processes.

    Yields whether other processes are locked out: the lock only saves
    duplicate downloads, and the unique temporary file and the rename keep
    the cache correct when it is not available or not honoured (no `fcntl`,
    a read-only folder, a file system without locks).
    """
    folder, name = os.path.split(fpath)
    lock_path = os.path.join(os.path.abspath(folder), f".{name}.kutils.lock")
    with _THREAD_LOCKS_GUARD:
        thread_lock = _THREAD_LOCKS.setdefault(lock_path, threading.Lock())
    with thread_lock:
        try:
            import fcntl
        except ImportError:  # Windows
            yield False
            return
        try:
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError:
            yield False
            return
        held = False
        try:
            try:
                fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
            except (BlockingIOError, PermissionError):
                print(f"Waiting for another process that is downloading {fpath}")
                with contextlib.suppress(OSError):
                    fcntl.lockf(descriptor, fcntl.LOCK_EX)
                    held = True
            except OSError:  # the file system does not support locks
                pass
            yield held
        finally:
            os.close(descriptor)  # releases the record lock


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
