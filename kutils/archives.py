"""Safe, all-or-nothing extraction of tar and zip archives, used by `get_file`.

An archive is first extracted into a fresh temporary folder inside the
destination, with every member checked (tar through the standard library's
`data` filter, zip member names checked here). Only when the whole archive
extracted cleanly are its entries moved into the destination, file by file
with `os.replace`, merging into existing folders as Keras 2.2.4's
`extractall` did. A refused or broken archive leaves the destination as it
was: no half-extracted tree, and nothing ever written outside it. A process
killed during an extraction leaves its staging folder behind; the next
extraction into that folder (and every `get_file` call in it) removes it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import stat
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence

from .errors import UnsafeArchiveError

__all__ = [
    "ARCHIVE_FORMATS",
    "STAGING_PREFIX",
    "UnsafeArchiveError",
    "extract_archive",
    "remove_stale_staging",
]

# The formats `archive_format` may name; 'tar' covers tar, tar.gz, tar.bz2 and tar.xz.
ARCHIVE_FORMATS = ("tar", "zip")

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")

# Each extraction works in `<destination>/.kutils-extract-<pid>@<host>-<random>` (see remove_stale_staging).
STAGING_PREFIX = ".kutils-extract-"
_STALE_STAGING_SECONDS = 24 * 3600.0

# Extracts the archive (first argument) into a staging folder (second argument).
_Extractor = Callable[[str, str], None]


def extract_archive(
    file_path: str | os.PathLike[str],
    path: str | os.PathLike[str] = ".",
    archive_format: str | Sequence[str] | None = "auto",
) -> list[str] | None:
    """Extracts a tar or zip archive into `path`, safely and all at once.

    Args:
        file_path: Path of the archive.
        path: Destination folder; created if missing. Members are merged into
            it: existing files of the same name are replaced, other files stay.
        archive_format: 'auto' (try 'tar', then 'zip'), 'tar', 'zip', a list
            of those, or None (extract nothing).

    Returns:
        The sorted names of the top-level entries extracted into `path`, or
        None if `file_path` is not an archive of the formats tried.

    Raises:
        UnsafeArchiveError: If a member has an absolute path, a `..` that
            leaves `path`, is a link pointing outside `path`, or is a device
            or other special file. Nothing is extracted then.
        ValueError: If `archive_format` names an unknown format.
        tarfile.TarError, zipfile.BadZipFile, EOFError: If the archive is
            corrupt. Nothing is extracted then.
        FileExistsError: If a member would replace a folder by a file (or the
            reverse) in `path`. Nothing is extracted then.

    Example:

    ```python
    names = extract_archive("data.tar.gz", "datasets")  # e.g. ['data']
    ```
    """
    archive = os.fspath(file_path)
    for kind in _formats(archive_format):
        if kind == "tar" and tarfile.is_tarfile(archive):
            return _extract_all_or_nothing(archive, os.fspath(path), _extract_tar)
        if kind == "zip" and zipfile.is_zipfile(archive):
            return _extract_all_or_nothing(archive, os.fspath(path), _extract_zip)
    return None


def _formats(archive_format: str | Sequence[str] | None) -> list[str]:
    if archive_format is None:
        return []
    if isinstance(archive_format, str):
        kinds: list[str] = list(ARCHIVE_FORMATS) if archive_format == "auto" else [archive_format]
    else:
        kinds = list(archive_format)
    unknown = [kind for kind in kinds if kind not in ARCHIVE_FORMATS]
    if unknown:
        raise ValueError(
            f"archive_format={archive_format!r} names unknown format(s) {unknown}; "
            f"expected 'auto', None, or some of {list(ARCHIVE_FORMATS)}."
        )
    return kinds


def _staging_owner() -> str:
    """'<pid>@<host>' of this process, in the names of its staging folders."""
    host = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"
    return f"{os.getpid()}@{host}"


def _is_stale(name: str, age: float) -> bool:
    """Whether the staging folder `name`, untouched for `age` seconds, belongs to no live extraction."""
    if age > _STALE_STAGING_SECONDS:
        return True
    owner = name[len(STAGING_PREFIX) :].rpartition("-")[0]
    pid, _, host = owner.partition("@")
    if not pid.isdigit() or host != _staging_owner().partition("@")[2] or int(pid) == os.getpid():
        return False  # another machine's (a shared folder), or this process's own: only age tells
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


def remove_stale_staging(folder: str | os.PathLike[str]) -> list[str]:
    """Deletes the staging folders in `folder` left by extractions whose process died.

    A staging folder is stale when the process named in it (on this machine)
    is gone, or when it was untouched for a day (one from another machine).

    Args:
        folder: The folder archives are extracted into.

    Returns:
        The names of the staging folders removed.
    """
    removed, now = [], time.time()
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if not (entry.name.startswith(STAGING_PREFIX) and entry.is_dir(follow_symlinks=False)):
                continue
            with contextlib.suppress(OSError):
                if _is_stale(entry.name, now - entry.stat(follow_symlinks=False).st_mtime):
                    shutil.rmtree(entry.path)
                    removed.append(entry.name)
    return removed


def _extract_all_or_nothing(archive: str, destination: str, extract_into: _Extractor) -> list[str]:
    os.makedirs(destination, exist_ok=True)
    remove_stale_staging(destination)
    staging = tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{_staging_owner()}-", dir=destination)
    try:
        extract_into(archive, staging)
        names = sorted(os.listdir(staging))
        moves = _plan_merge(staging, destination, os.path.realpath(destination))
        for source, target in moves:
            os.replace(source, target)
        return names
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract_tar(archive: str, staging: str) -> None:
    if not hasattr(tarfile, "data_filter"):
        raise RuntimeError(
            "Safe tar extraction needs the tarfile 'data' filter (PEP 706): Python 3.10.12+, 3.11.4+ "
            f"or 3.12+; this Python lacks it, so {archive!r} was not extracted."
        )

    def refuse_unsafe(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        if member.name.startswith(("/", os.sep)) or _WINDOWS_DRIVE.match(member.name):
            raise _unsafe(archive, member.name, "has an absolute path")
        try:
            return tarfile.data_filter(member, dest)
        except tarfile.FilterError as error:
            raise _unsafe(archive, member.name, _describe_filter_error(error)) from error

    with tarfile.open(archive) as tar:
        tar.extractall(staging, filter=refuse_unsafe)


def _extract_zip(archive: str, staging: str) -> None:
    with zipfile.ZipFile(archive) as zipped:
        members = zipped.infolist()
        for member in members:
            _check_zip_member(archive, member, staging)
        for member in members:
            zipped.extract(member, staging)


def _check_zip_member(archive: str, member: zipfile.ZipInfo, staging: str) -> None:
    name = member.filename
    parts = re.split(r"[/\\]", name)
    if name.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(name):
        raise _unsafe(archive, name, "has an absolute path")
    if ".." in parts or "\x00" in name:
        raise _unsafe(archive, name, "would be written outside the destination folder")
    if stat.S_ISLNK(member.external_attr >> 16):
        raise _unsafe(archive, name, "is a symbolic link (zip links are refused)")
    target = os.path.realpath(os.path.join(staging, name))
    if os.path.commonpath([target, os.path.realpath(staging)]) != os.path.realpath(staging):
        raise _unsafe(archive, name, "would be written outside the destination folder")


def _plan_merge(source_dir: str, target_dir: str, root: str) -> list[tuple[str, str]]:
    """Lists the `(source, target)` renames that merge `source_dir` into `target_dir`.

    Checks every conflict first, so that a conflict moves nothing.
    """
    moves: list[tuple[str, str]] = []
    for entry in os.scandir(source_dir):
        target = os.path.join(target_dir, entry.name)
        source_is_dir = entry.is_dir(follow_symlinks=False)
        if not os.path.lexists(target):
            moves.append((entry.path, target))
        elif source_is_dir and os.path.isdir(target):
            real_target = os.path.realpath(target)
            if os.path.commonpath([real_target, root]) != root:
                raise UnsafeArchiveError(
                    f"Cannot extract into {target!r}: it is a link to {real_target!r}, outside {root!r}."
                )
            moves.extend(_plan_merge(entry.path, target, root))
        elif source_is_dir or (os.path.isdir(target) and not os.path.islink(target)):
            raise FileExistsError(
                f"Cannot extract {entry.name!r} into {target_dir!r}: a "
                f"{'folder' if source_is_dir else 'file'} would replace the existing "
                f"{'file' if source_is_dir else 'folder'} {target!r}. Move it away and retry."
            )
        else:
            moves.append((entry.path, target))
    return moves


def _unsafe(archive: str, member: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"Refusing to extract {archive!r}: member {member!r} {why}. Nothing was extracted. "
        "Only extract archives you trust, and pass file_hash= to get_file to pin their content.",
        archive=archive,
        member=member,
    )


def _describe_filter_error(error: tarfile.FilterError) -> str:
    descriptions = {
        "AbsolutePathError": "has an absolute path",
        "OutsideDestinationError": "would be written outside the destination folder",
        "AbsoluteLinkError": "is a link to an absolute path",
        "LinkOutsideDestinationError": "is a link pointing outside the destination folder",
        "SpecialFileError": "is a device, FIFO or other special file",
    }
    return descriptions.get(type(error).__name__, f"was refused by the tarfile 'data' filter ({error})")
