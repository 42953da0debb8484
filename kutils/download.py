"""`get_file` and `validate_file`: the Keras 2.2.4 downloader, made atomic, concurrent-safe and fast.

This module is the public entry: it checks the arguments, looks in the cache
and decides whether to download and extract. The work is done by
`kutils._transfer` (the download itself: atomic, retried, resumed),
`kutils._cache` (the cache folder, the lock and the verified-hash record),
`kutils._hashing` (expected hashes and streamed hashing) and
`kutils.archives` (safe extraction).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from ._cache import _cache_folder, _cache_lock, _extract_once, _is_cached, _requested_folder
from ._hashing import _Expected, _hash_stream
from ._transfer import DEFAULT_TIMEOUT, OFFLINE_ENV, _download, _Options
from .archives import remove_stale_staging
from .errors import CacheDirError, DownloadError, HashMismatchError, OfflineError, UnsafeArchiveError

__all__ = [
    "CacheDirError",
    "DownloadError",
    "HashMismatchError",
    "OfflineError",
    "UnsafeArchiveError",
    "get_file",
    "validate_file",
]


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
            Without it, a cached file is used as it is, unless the file
            get_file downloaded there was changed in place since (cut short
            or written over): that one is downloaded again.
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

    # The cache is looked up where it was asked for before any writable fallback is chosen: a
    # read-only cache (a shared mirror, a container image) serves its files, offline or not.
    datadir = _requested_folder(cache_dir, cache_subdir)
    untar_fpath, fpath = _paths(datadir, fname, untar)
    downloaded = False
    if force_download or not _is_cached(fpath, want, rehash=options.always_verify, announce=True):
        writable = _cache_folder(cache_dir, cache_subdir)
        cached = False
        if writable != datadir:  # the fallback folder may hold the file from an earlier call
            datadir = writable
            untar_fpath, fpath = _paths(datadir, fname, untar)
            cached = not force_download and _is_cached(
                fpath, want, rehash=options.always_verify, announce=False
            )
        if not cached:
            if options.offline:
                raise _offline_error(origin, fpath, force_download=force_download)
            os.makedirs(os.path.dirname(fpath), exist_ok=True)
            with _cache_lock(fpath) as alone:
                if force_download or not _is_cached(
                    fpath, want, rehash=options.always_verify, announce=False
                ):
                    _download(origin, fpath, want, options, alone=alone)
                    downloaded = True
    remove_stale_staging(datadir)  # left by extractions killed in this folder (no-op if read-only)

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


def _paths(datadir: str, fname: str, untar: bool) -> tuple[str, str]:
    """(the path returned with `untar`, the path of the downloaded file) in `datadir`."""
    untar_fpath = os.path.join(datadir, fname)
    return untar_fpath, untar_fpath + ".tar.gz" if untar else untar_fpath


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
