"""`kutils fetch` (get_file for shells) and `kutils cache list|verify|remove|prune`.

The cache is the folder `get_file` downloads into: `$KERAS_HOME` or
`~/.keras` (or `--cache-dir`), one sub-folder per `cache_subdir` (`datasets`,
`models`, ...). An entry is a file in a sub-folder, with what kutils knows of
it from the hidden record next to it (the verified hash, where it was
extracted). Files directly in the cache folder (Keras' `keras.json`) are not
entries, and nothing outside the cache folder is ever touched. Temporary
files of killed downloads (`.NAME.XXXXXXXXXXXX.part`), interrupted
extractions (`.kutils-extract-*`) and orphaned lock files are listed, and
`prune` removes those untouched for an hour, the rule `get_file` itself uses.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CacheEntry", "register", "scan_cache"]

_STALE_SECONDS = 3600.0
_PART = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{12}\.part$")
_RECORD_TMP = re.compile(r"^\.(?P<name>.+)\.kutils\.json\.[0-9a-f]{12}\.tmp$")
_LOCK = re.compile(r"^\.(?P<name>.+)\.kutils\.lock$")
_RECORD = re.compile(r"^\.(?P<name>.+)\.kutils\.json$")
_STAGING_PREFIX = ".kutils-extract-"
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1 << 10,
    "m": 1 << 20,
    "mb": 1 << 20,
    "g": 1 << 30,
    "gb": 1 << 30,
}


@dataclass
class CacheEntry:
    """One file (or folder) in the download cache.

    Attributes:
        name: `cache_subdir/file name`.
        path: The absolute path.
        size: Bytes (of every file, for a folder).
        modified: When it was written (fetched), as a Unix time.
        kind: `file`, `folder`, or `temporary` (left by a killed download or
            extraction, or an orphaned lock).
        hashes: Verified hashes from the kutils record, `{algorithm: hex}`;
            empty when none is known or the file changed since.
        extracted: Names extracted from this archive next to it.
    """

    name: str
    path: str
    size: int
    modified: float
    kind: str = "file"
    hashes: dict[str, str] = field(default_factory=dict)
    extracted: list[str] = field(default_factory=list)


def register(commands: Any) -> None:
    """Adds `kutils fetch` and `kutils cache` to the command line's sub-commands.

    Args:
        commands: The `argparse` sub-parsers action of the `kutils` parser.
    """
    fetch = commands.add_parser(
        "fetch",
        help="download a file into the cache (get_file) and print its local path",
        description="get_file for shells and Makefiles: prints only the local path on stdout; progress "
        "goes to stderr on a terminal.",
        epilog="Example: kutils fetch https://example.org/mnist.npz --hash 731c5ac6... (in a script: "
        "data=$(kutils fetch ...))",
    )
    fetch.add_argument("origin", metavar="ORIGIN", help="http://, https:// or file:// URL")
    fetch.add_argument("--fname", help="file name in the cache (default: the URL's last part)")
    fetch.add_argument("--hash", dest="file_hash", metavar="H", help="expected md5/sha1/sha256/sha512 hex")
    fetch.add_argument("--hash-algorithm", default="auto", help="hash algorithm (default: from the length)")
    fetch.add_argument("--extract", action="store_true", help="extract a tar/zip archive next to it")
    fetch.add_argument("--cache-dir", help="the cache folder (default $KERAS_HOME or ~/.keras)")
    fetch.add_argument("--cache-subdir", default="datasets", help="sub-folder (default datasets)")
    fetch.add_argument("--offline", action="store_true", default=None, help="never download: cache only")
    fetch.add_argument("--force", action="store_true", help="download even if cached")
    fetch.add_argument("--retries", type=int, default=3, help="extra attempts after a failure (default 3)")
    fetch.add_argument("--timeout", type=float, default=None, help="seconds to wait for the server")
    fetch.set_defaults(handler=_fetch_command)

    cache = commands.add_parser(
        "cache",
        help="what the get_file cache holds: list, verify, remove, prune",
        description="Inspect and clean the get_file cache. Never touches files outside the cache folder.",
        epilog="Example: kutils cache prune --older-than 30 --dry-run",
    )
    cache.add_argument("--cache-dir", help="the cache folder (default $KERAS_HOME or ~/.keras)")
    cache.add_argument("--cache-subdir", help="only this sub-folder (default: all of them)")
    actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list entries and leftover temporary files")
    listing.add_argument("--json", action="store_true", help="print the entries as JSON")
    listing.set_defaults(handler=_list_command)
    verify = actions.add_parser("verify", help="re-hash entries against their recorded hashes")
    verify.add_argument("names", nargs="*", metavar="NAME", help="entries to verify (default: all)")
    verify.add_argument("--json", action="store_true", help="print the results as JSON")
    verify.set_defaults(handler=_verify_command)
    remove = actions.add_parser("remove", help="remove entries (with their records and extracted files)")
    remove.add_argument("names", nargs="*", metavar="NAME", help="entries, as listed (subdir/name)")
    remove.add_argument("--all", action="store_true", help="remove every entry")
    remove.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    remove.set_defaults(handler=_remove_command)
    prune = actions.add_parser("prune", help="remove stale temporaries, and entries older/larger than given")
    prune.add_argument("--older-than", type=float, metavar="DAYS", help="also entries not fetched for DAYS")
    prune.add_argument("--larger-than", type=_size, metavar="SIZE", help="also entries over SIZE (e.g. 500M)")
    prune.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    prune.set_defaults(handler=_prune_command)


def _size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 500M, 2G or 1048576")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def cache_root(cache_dir: str | None = None) -> str:
    """The cache folder `get_file` uses: `cache_dir`, else `$KERAS_HOME`, else `~/.keras`."""
    root = cache_dir or os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.abspath(os.path.expanduser(root))


def scan_cache(root: str, subdir: str | None = None) -> list[CacheEntry]:
    """Lists the entries and leftover temporaries of a cache folder, sorted by name.

    Args:
        root: The cache folder.
        subdir: Only this sub-folder; all of them if None.

    Returns:
        The `CacheEntry` list; an absent cache folder gives an empty list.
    """
    from ._cache import _read_record

    if not os.path.isdir(root):
        return []
    if subdir is not None:
        folders = [subdir]
    else:
        with os.scandir(root) as items:
            folders = sorted(
                i.name for i in items if i.is_dir(follow_symlinks=False) and not i.name.startswith(".")
            )
    result: list[CacheEntry] = []
    for folder in folders:
        base = os.path.join(root, folder)
        if not os.path.isdir(base):
            continue
        names = sorted(os.listdir(base))
        entries: dict[str, CacheEntry] = {}
        for name in names:
            path = os.path.join(base, name)
            if name.startswith("."):
                if _is_temporary(base, name):
                    result.append(_entry(f"{folder}/{name}", path, kind="temporary"))
                continue
            entry = _entry(f"{folder}/{name}", path, kind="folder" if os.path.isdir(path) else "file")
            if entry.kind == "file":
                record = _read_record(path, os.stat(path))
                entry.hashes = dict(record.get("hashes", {}))
                entry.extracted = sorted(set(record.get("extracted", {}).get(os.path.realpath(base), [])))
            entries[name] = entry
        claimed = {item for entry in entries.values() for item in entry.extracted}
        result.extend(entry for name, entry in entries.items() if name not in claimed)
    return sorted(result, key=lambda entry: entry.name)


def _is_temporary(base: str, name: str) -> bool:
    if _PART.match(name) or _RECORD_TMP.match(name) or name.startswith(_STAGING_PREFIX):
        return True
    lock = _LOCK.match(name)
    if lock and not os.path.exists(os.path.join(base, lock.group("name"))):
        return True  # a lock of a file no longer in the cache
    record = _RECORD.match(name)
    return bool(record and not os.path.exists(os.path.join(base, record.group("name"))))


def _entry(name: str, path: str, *, kind: str) -> CacheEntry:
    info = os.lstat(path)
    size = info.st_size
    if kind in ("folder", "temporary") and os.path.isdir(path):
        size = sum(
            os.lstat(os.path.join(top, file)).st_size for top, _, files in os.walk(path) for file in files
        )
    return CacheEntry(name=name, path=path, size=size, modified=info.st_mtime, kind=kind)


def _entries(args: argparse.Namespace) -> tuple[str, list[CacheEntry]]:
    root = cache_root(args.cache_dir)
    return root, scan_cache(root, args.cache_subdir)


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _list_command(args: argparse.Namespace) -> int:
    root, entries = _entries(args)
    if args.json:
        print(json.dumps({"cache_dir": root, "entries": [asdict(entry) for entry in entries]}, indent=2))
        return 0
    if not entries:
        print(f"{root}: no cached files")
        return 0
    print(f"{root}:")
    width = max(len(entry.name) for entry in entries)
    for entry in entries:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.modified))
        verified = ", ".join(f"{algo}:{digest[:12]}" for algo, digest in sorted(entry.hashes.items()))
        notes = (
            entry.kind
            if entry.kind != "file"
            else (f"verified {verified}" if verified else "no verified hash")
        )
        if entry.extracted:
            notes += f"; extracted: {', '.join(entry.extracted)}"
        print(f"  {entry.name:<{width}}  {_human(entry.size):>10}  {when}  {notes}")
    total = sum(entry.size for entry in entries)
    print(f"{len(entries)} item(s), {_human(total)}")
    return 0


def _select(entries: list[CacheEntry], names: list[str]) -> list[CacheEntry]:
    by_name = {entry.name: entry for entry in entries}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise KeyError(f"not in the cache: {unknown}; `kutils cache list` shows the names (subdir/name).")
    return [by_name[name] for name in names]


def _verify_command(args: argparse.Namespace) -> int:
    from ._cache import _cached_digest

    _, entries = _entries(args)
    chosen = _select(entries, args.names) if args.names else [e for e in entries if e.kind == "file"]
    results = []
    for entry in chosen:
        if not entry.hashes:
            results.append({"name": entry.name, "status": "unknown", "detail": "no recorded hash to check"})
            if not args.json:
                print(f"{'unknown':8} {entry.name}  (no recorded hash to check)", flush=True)
            continue
        algorithm, recorded = sorted(entry.hashes.items())[0]
        actual = _cached_digest(entry.path, algorithm, rehash=True)
        status = "ok" if actual == recorded else "changed"
        results.append({"name": entry.name, "status": status, "detail": f"{algorithm} {actual}"})
        if not args.json:  # one line per entry as soon as it is hashed: the progress of a long run
            print(f"{status:8} {entry.name}  ({algorithm} {actual})", flush=True)
    if args.json:
        print(json.dumps({"results": results}, indent=2))
    return 1 if any(result["status"] == "changed" for result in results) else 0


def _remove_command(args: argparse.Namespace) -> int:
    root, entries = _entries(args)
    if args.all == bool(args.names):
        raise ValueError("name the entries to remove, or pass --all (not both).")
    chosen = entries if args.all else _select(entries, args.names)
    _remove(root, chosen, args.dry_run)
    return 0


def _prune_command(args: argparse.Namespace) -> int:
    root, entries = _entries(args)
    now = time.time()
    chosen = [e for e in entries if e.kind == "temporary" and now - e.modified > _STALE_SECONDS]
    for entry in entries:
        if entry.kind == "temporary":
            continue
        too_old = args.older_than is not None and now - entry.modified > args.older_than * 86400
        too_big = args.larger_than is not None and entry.size > args.larger_than
        if too_old or too_big:
            chosen.append(entry)
    if not chosen:
        print("nothing to prune")
    _remove(root, chosen, args.dry_run)
    return 0


def _remove(root: str, entries: list[CacheEntry], dry_run: bool) -> None:
    verb = "would remove" if dry_run else "removed"
    freed = 0
    for entry in entries:
        targets = [entry.path]
        folder, name = os.path.split(entry.path)
        targets += [os.path.join(folder, item) for item in entry.extracted]
        if entry.kind != "temporary":
            targets += [
                os.path.join(folder, f".{name}.kutils.json"),
                os.path.join(folder, f".{name}.kutils.lock"),
            ]
        for target in targets:
            _check_inside(root, target)
            if not os.path.lexists(target):
                continue
            if not dry_run:
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                else:
                    os.unlink(target)
        freed += entry.size
        print(
            f"{verb} {entry.name}"
            + (f" (and extracted {', '.join(entry.extracted)})" if entry.extracted else "")
        )
    if entries:
        print(f"{verb} {len(entries)} item(s), {_human(freed)}")


def _check_inside(root: str, target: str) -> None:
    real_root = os.path.realpath(root)
    real_parent = os.path.realpath(os.path.dirname(target))
    if os.path.commonpath([real_root, real_parent]) != real_root:
        raise PermissionError(f"refusing to remove {target!r}: it is outside the cache folder {root!r}.")


def _fetch_command(args: argparse.Namespace) -> int:
    from .download import get_file

    options: dict[str, Any] = {"retries": args.retries, "offline": args.offline, "force_download": args.force}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    with contextlib.redirect_stdout(sys.stderr):  # get_file's messages and progress bar: not the path
        path = get_file(
            args.fname,
            args.origin,
            file_hash=args.file_hash,
            hash_algorithm=args.hash_algorithm,
            extract=args.extract,
            cache_dir=args.cache_dir,
            cache_subdir=args.cache_subdir,
            progress=sys.stderr.isatty(),
            **options,
        )
    print(path)
    return 0
