"""`kutils migrate PATH...`: move a Keras 2 code base's keras.utils uses to kutils.

Rewrites `.py` files and the code cells of `.ipynb` notebooks (folders are
walked recursively), and reports, like TensorFlow's `tf_upgrade_v2`, what was
changed and what else Keras 3 breaks, with the fix for each. See
docs/migrate.md for the forms handled and the full rule table.

Needs libcst (`pip install "kutils[migrate]"`); `import kutils` does not load it.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from .errors import MigrateDependencyError

__all__ = [
    "FileResult",
    "format_report",
    "iter_sources",
    "migrate_code",
    "migrate_file",
    "register",
    "report_json",
    "run",
    "write_atomically",
]

_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})


def _libcst() -> Any:
    try:
        import libcst
    except ImportError as error:
        raise MigrateDependencyError(
            "kutils migrate needs the libcst package (a concrete syntax tree, so that everything it does "
            'not rewrite stays byte-identical); install it with: pip install "kutils[migrate]"'
        ) from error
    return libcst


@dataclasses.dataclass
class FileResult:
    """What a run did to one file.

    Attributes:
        path: The file.
        old: Its bytes before the run.
        new: Its bytes after migration (equal to `old` when nothing changes).
        findings: Report lines, as `(cell, finding)`; `cell` is None outside notebooks.
        error: Why the file was left untouched (does not parse, cannot be read), or None.
    """

    path: Path
    old: bytes
    new: bytes
    findings: list[tuple[int | None, Any]]
    error: str | None = None

    @property
    def changed(self) -> bool:
        """Whether the migration changes the file."""
        return self.error is None and self.new != self.old


def migrate_code(code: str, *, only_removed: bool = False, fix_keras3: bool = False) -> tuple[str, list[Any]]:
    """Migrates one module's source text.

    Args:
        code: Python source.
        only_removed: Move only names Keras 3 removed or changed in behaviour.
        fix_keras3: Also apply the mechanical Keras 3 fixes.

    Returns:
        `(new_code, findings)`; `new_code == code` when nothing changes.

    Raises:
        libcst.ParserSyntaxError: When `code` does not parse.
        MigrateDependencyError: When libcst is not installed.

    Example:
        >>> migrate_code("from keras.utils import to_categorical\\n")[0]
        'from kutils import to_categorical\\n'
    """
    cst = _libcst()
    new, findings = _migrate_module(cst.parse_module(code), code, only_removed, fix_keras3)
    return new.code, findings


def _migrate_module(
    module: Any, source: str | bytes, only_removed: bool, fix_keras3: bool
) -> tuple[Any, list[Any]]:
    from libcst.metadata import MetadataWrapper

    from ._migrate_cst import cached_visitor_lookup
    from ._migrate_imports import catalog_from_package, migrate_imports
    from ._migrate_keras3 import TRIGGERS, check_keras3

    # Scope and qualified-name analysis is the costly part: skip a pass whose
    # rules cannot match the text (every utils form spells "utils"), and share
    # the analysis between the passes unless a Keras 3 fix changed the tree.
    text = source.decode("latin-1") if isinstance(source, bytes) else source
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    keras3: list[Any] = []
    moved: list[Any] = []
    with cached_visitor_lookup():
        if any(word in text for word in TRIGGERS):
            fixed, keras3 = check_keras3(wrapper, fix_keras3)
            if fixed is not wrapper.module:
                wrapper = MetadataWrapper(fixed, unsafe_skip_copy=True)
        module = wrapper.module
        if "keras" in text and "utils" in text:
            module, moved = migrate_imports(wrapper, catalog_from_package(only_removed))
    return module, sorted(moved + keras3, key=lambda finding: finding.line)


def migrate_file(path: Path, *, only_removed: bool = False, fix_keras3: bool = False) -> FileResult:
    """Migrates one `.py` or `.ipynb` file in memory (nothing is written).

    Args:
        path: The file.
        only_removed: See `migrate_code`.
        fix_keras3: See `migrate_code`.

    Returns:
        The result; `error` says why a file that cannot be read or parsed was
        left as it is.
    """
    cst = _libcst()
    try:
        old = path.read_bytes()
    except OSError as error:
        return FileResult(path, b"", b"", [], f"cannot be read: {error.strerror or error}")
    try:
        if path.suffix == ".ipynb":
            from ._migrate_notebook import migrate_notebook

            text, located = migrate_notebook(
                old.decode("utf-8"),
                lambda code: migrate_code(code, only_removed=only_removed, fix_keras3=fix_keras3),
            )
            findings: list[tuple[int | None, Any]] = [
                (cell, dataclasses.replace(finding, line=line, cell=cell)) for cell, line, finding in located
            ]
            return FileResult(path, old, text.encode("utf-8"), findings)
        module, found = _migrate_module(cst.parse_module(old), old, only_removed, fix_keras3)
        return FileResult(path, old, module.bytes, [(None, finding) for finding in found])
    except cst.ParserSyntaxError as error:
        where = f"line {error.raw_line}, column {error.raw_column}"
        reason = f"does not parse ({where}): {error.message}{_python2_hint(old)}"
        return FileResult(path, old, old, [], reason)
    except (UnicodeDecodeError, ValueError) as error:
        return FileResult(path, old, old, [], f"cannot be migrated: {error}")


# Statements that only Python 2 accepts, as Keras 2-era code often has them (`except E, e:` is not
# one: Python 3.14 reads it as `except (E, e):`, and so does libcst).
_PYTHON2_STATEMENTS = re.compile(
    rb"^[ \t]*(print[ \t]+[^\s(=.,)\]}]|exec[ \t]+[\"']|raise[ \t]+\w+[ \t]*,)",
    re.MULTILINE,
)


def _python2_hint(source: bytes) -> str:
    """A hint for a file that does not parse because it is Python 2 code, or ''."""
    statement = _PYTHON2_STATEMENTS.search(source)
    if statement is None:
        return ""
    start = source.rfind(b"\n", 0, statement.start()) + 1
    end = source.find(b"\n", statement.start())
    text = source[start : end if end >= 0 else len(source)].decode(errors="replace").strip()
    line = source.count(b"\n", 0, start) + 1
    return (
        f"; line {line} ({text[:60]!r}) looks like Python 2 code, which "
        "kutils migrate cannot read: port the file to Python 3 first (2to3 on Python 3.12 or older, "
        "or by hand), then run kutils migrate again"
    )


def iter_sources(paths: Sequence[Path]) -> Iterator[Path]:
    """The `.py`/`.ipynb` files under `paths`, sorted, skipping hidden and cache folders.

    A path naming a file is yielded whatever its suffix.

    Raises:
        FileNotFoundError: When a path does not exist.
    """
    for path in paths:
        if path.is_file():
            yield path
            continue
        if not path.is_dir():
            raise FileNotFoundError(f"kutils migrate: {str(path)!r} is neither a file nor a folder")
        for found in sorted(path.rglob("*")):
            relative = found.relative_to(path).parts
            if any(part.startswith(".") or part in _SKIPPED_DIRS for part in relative[:-1]):
                continue
            if found.suffix in {".py", ".ipynb"} and found.is_file() and not relative[-1].startswith("."):
                yield found


def write_atomically(path: Path, data: bytes) -> None:
    """Replaces a file's bytes atomically, keeping its permission bits.

    The new bytes go to a temporary file in the same folder, which then
    replaces the original (`os.replace`), so a crash leaves either version.
    """
    mode = path.stat().st_mode & 0o7777
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".kutils-migrate")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _diff(result: FileResult) -> str:
    old, new = _decode(result.old), _decode(result.new)
    name = str(result.path)
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        f"a/{name.lstrip('/')}",
        f"b/{name.lstrip('/')}",
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def _where(result: FileResult, cell: int | None, finding: Any) -> str:
    return f"{result.path}:{'' if cell is None else f'cell {cell}:'}{finding.line}"


def format_report(results: Sequence[FileResult]) -> str:
    """The human report: per file and line, what changed and what Keras 3 still breaks."""
    changed = sum(result.changed for result in results)
    left = [
        (result, cell, finding)
        for result in results
        for cell, finding in result.findings
        if not finding.applied
    ]
    errors = [result for result in results if result.error]
    out = [
        f"kutils migrate: {len(results)} files, {changed} to change, "
        f"{len(left)} Keras 3 issues left, {len(errors)} not migrated",
        "=" * 80,
    ]
    for result in results:
        if not result.findings and not result.error:
            continue
        out += [f"File: {result.path}", "-" * 80]
        if result.error:
            out.append(f"{result.path}: ERROR: {result.error}; left untouched")
        for cell, finding in result.findings:
            if finding.rule == "utils-import":
                out.append(f"{_where(result, cell, finding)}: changed: {finding.message} -> {finding.fix}")
                continue
            state = "fixed" if finding.applied else "KERAS 3"
            out.append(f"{_where(result, cell, finding)}: {state} [{finding.rule}] {finding.message}")
            hint = " (--fix-keras3 applies it)" if finding.fixable and not finding.applied else ""
            out.append(f"    fix: {finding.fix}{hint}")
        out.append("")
    return "\n".join(out) + "\n"


def report_json(results: Sequence[FileResult]) -> dict[str, Any]:
    """The `--json` report: per file its findings, its diff and any error."""
    return {
        "files": [
            {
                "path": str(result.path),
                "changed": result.changed,
                "error": result.error,
                "diff": _diff(result) if result.changed else "",
                "findings": [dataclasses.asdict(finding) for _cell, finding in result.findings],
            }
            for result in results
        ],
        "summary": {
            "files": len(results),
            "changed": sum(result.changed for result in results),
            "errors": sum(result.error is not None for result in results),
            "keras3_left": sum(
                1 for result in results for _cell, finding in result.findings if not finding.applied
            ),
        },
    }


def register(commands: Any) -> None:
    """Adds the `migrate` subcommand to the `kutils` command line's subparsers."""
    parser = commands.add_parser(
        "migrate",
        help="rewrite Keras 2 keras.utils imports to kutils; report what else Keras 3 breaks",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("paths", metavar="PATH", nargs="+", type=Path, help=".py/.ipynb files or folders")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the files in place (atomically)")
    mode.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything would change")
    parser.add_argument(
        "--only-removed",
        action="store_true",
        help="move only names Keras 3 removed or changed in behaviour",
    )
    parser.add_argument("--fix-keras3", action="store_true", help="also apply the mechanical Keras 3 fixes")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (with the diffs)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Runs `kutils migrate` with parsed arguments.

    Returns:
        0 when done (or nothing to change); 1 with `--check` when a file would
        change, and 1 when a path does not exist, libcst is missing, or a file
        could not be read or parsed (the other files are still migrated).
    """
    try:
        _libcst()
        sources = list(iter_sources(args.paths))
    except (MigrateDependencyError, FileNotFoundError) as error:
        print(f"kutils migrate: error: {error}", file=err)
        return 1
    results = [
        migrate_file(path, only_removed=args.only_removed, fix_keras3=args.fix_keras3) for path in sources
    ]
    if args.write:
        for result in results:
            if result.changed:
                write_atomically(result.path, result.new)
    if args.json:
        json.dump(report_json(results), out, indent=2)
        out.write("\n")
    else:
        if not args.write and not args.check:
            out.writelines(_diff(result) for result in results if result.changed)
        err.write(format_report(results))
    failed = any(result.error for result in results)
    return 1 if failed or (args.check and any(result.changed for result in results)) else 0
