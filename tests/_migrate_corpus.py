"""The `kutils migrate` golden corpus: inputs, their options, and the expected outputs.

An input's first lines may hold `# corpus: runnable --fix-keras3 --only-removed`:
`runnable` marks files whose migrated version must run on Keras 3; the flags
are the `kutils migrate` options the golden output was made with. Notebooks
are runnable when listed in RUNNABLE_NOTEBOOKS. Regenerate (then review every
diff) with `python tests/_migrate_corpus.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kutils.migrate import FileResult, migrate_file

CORPUS = Path(__file__).parent / "migrate_corpus"
INPUTS = CORPUS / "inputs"
EXPECTED = CORPUS / "expected"
RUNNABLE_NOTEBOOKS = frozenset({"notebook_basic.ipynb"})


def corpus_files() -> list[Path]:
    return sorted(path for path in INPUTS.iterdir() if path.suffix in {".py", ".ipynb"})


def header(path: Path) -> set[str]:
    if path.suffix != ".py":
        return {"runnable"} if path.name in RUNNABLE_NOTEBOOKS else set()
    words: set[str] = set()
    for line in path.read_text().splitlines()[:3]:
        if line.startswith("# corpus:"):
            words |= set(line.split(":", 1)[1].split())
    return words


def migrate_corpus_file(path: Path) -> FileResult:
    flags = header(path)
    return migrate_file(path, only_removed="--only-removed" in flags, fix_keras3="--fix-keras3" in flags)


def report_text(result: FileResult) -> str:
    lines = []
    for cell, finding in result.findings:
        where = f"{finding.line}" if cell is None else f"cell {cell}:{finding.line}"
        state = "applied" if finding.applied else "left"
        lines.append(f"{where} {finding.rule} {state}: {finding.message} -> {finding.fix}")
    return "\n".join(lines) + "\n"


def regenerate() -> None:
    for path in corpus_files():
        result = migrate_corpus_file(path)
        assert result.error is None, (path, result.error)
        (EXPECTED / path.name).write_bytes(result.new)
        (EXPECTED / f"{path.name}.report").write_text(report_text(result))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent.parent))
    regenerate()
