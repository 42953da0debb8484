"""Keras 2.2.4 `data_utils` module-level file helpers: `_hash_file`, `_extract_archive`, `urlretrieve`.

Keras 2 code and tests imported these private-looking names
(`from keras.utils.data_utils import _hash_file`); `kutils.data_utils` offers
them with 2.2.4's signatures and return values. They are built on the hashing
and extraction code of `get_file`, so they share its fixes:

- `_hash_file` computes the algorithm it is asked for (2.2.4 computed md5 for
  every name but 'sha256', and raised `TypeError` for 'auto').
- `_extract_archive` extracts all or nothing and refuses members that would
  land outside `path`; on a broken archive it leaves `path` alone (2.2.4
  deleted the whole folder, e.g. `~/.keras/datasets`).
- `urlretrieve` never leaves a half-written file at `filename`.
"""

from __future__ import annotations

import contextlib
import os
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from email.message import Message

from ._hashing import _algorithm_name, _hash_stream
from .archives import extract_archive

__all__ = ["_extract_archive", "_hash_file", "urlretrieve"]


def _hash_file(fpath: str | os.PathLike[str], algorithm: str = "sha256", chunk_size: int = 65535) -> str:
    """Computes the hex digest of a file, reading it in chunks.

    Args:
        fpath: Path of the file.
        algorithm: 'sha256', 'md5', any other `hashlib` name, or 'auto'
            (md5, as in tf_keras and Keras 3: there is no expected hash to
            pick the algorithm from).
        chunk_size: Bytes to read at a time.

    Returns:
        The lower-case hex digest.

    Raises:
        ValueError: If `algorithm` is not a known hash algorithm.
        OSError: If the file cannot be read.

    Example:

    ```python
    from kutils.data_utils import _hash_file

    _hash_file("mnist.npz")  # 'e3b0c442...'
    ```
    """
    name = "md5" if str(algorithm).lower() == "auto" else _algorithm_name(algorithm, "algorithm")
    with open(fpath, "rb") as stream:
        return _hash_stream(stream, name, chunk_size)


def _extract_archive(
    file_path: str | os.PathLike[str],
    path: str | os.PathLike[str] = ".",
    archive_format: str | Sequence[str] | None = "auto",
) -> bool:
    """Extracts a tar or zip archive into `path`, returning whether it was one.

    Args:
        file_path: Path of the archive.
        path: Destination folder; created if missing.
        archive_format: 'auto' (try 'tar', then 'zip'), 'tar', 'zip', a list
            of those, or None (extract nothing).

    Returns:
        True if the file was an archive of a format tried and was extracted;
        False otherwise (nothing is written then).

    Raises:
        UnsafeArchiveError: (a `ValueError`) if a member would land outside
            `path`; nothing is extracted.
        ValueError: If `archive_format` names an unknown format.
        tarfile.TarError, zipfile.BadZipFile, EOFError: If the archive is
            corrupt; nothing is extracted and `path` is left as it was.
        OSError: If the archive cannot be read.

    Example:

    ```python
    from kutils.data_utils import _extract_archive

    _extract_archive("data.tar.gz", "datasets")  # True
    ```
    """
    return extract_archive(file_path, path, archive_format) is not None


def urlretrieve(
    url: str,
    filename: str | os.PathLike[str] | None = None,
    reporthook: Callable[[int, int, int], object] | None = None,
    data: bytes | None = None,
) -> tuple[str, Message]:
    """Copies the object at a URL to a local file, as `urllib.request.urlretrieve` does.

    This is the function Keras 2.2.4's `data_utils.urlretrieve` was on Python 3,
    with one difference: the download goes into a temporary file next to
    `filename` and is renamed into place when complete, so a failed or
    interrupted download never leaves a partial file under `filename`.

    Args:
        url: The URL (http, https, ftp or file).
        filename: Where to save the file; None saves it to a temporary file.
        reporthook: Called as `reporthook(block_count, block_size, total_size)`
            once the connection is made and after each block (`total_size` is
            -1 when the server does not announce it).
        data: Bytes to POST instead of a GET request.

    Returns:
        `(filename, headers)`: the path of the local file and the response
        headers.

    Raises:
        urllib.error.HTTPError, urllib.error.URLError: If the URL cannot be
            fetched (both are `OSError`s).
        urllib.error.ContentTooShortError: If fewer bytes arrive than the
            server announced; `filename` is untouched.

    Example:

    ```python
    from kutils.data_utils import urlretrieve

    path, headers = urlretrieve("https://example.com/data.csv", "data.csv")
    ```
    """
    if filename is None:
        return urllib.request.urlretrieve(url, None, reporthook, data)
    target = os.fspath(filename)
    folder, name = os.path.split(os.path.abspath(target))
    part = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:12]}.part")
    try:
        _, headers = urllib.request.urlretrieve(url, part, reporthook, data)
        os.replace(part, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)
    return target, headers
