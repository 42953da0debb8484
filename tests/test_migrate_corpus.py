"""`kutils migrate` on the golden corpus (tests/migrate_corpus): outputs, reports, idempotence, runs.

Each input is a Keras 2-shaped script or notebook for one import form
(tests/_migrate_corpus.py explains the headers). The migrated versions of the
runnable ones are executed on Keras 3, and their originals are executed too,
to show what they did before (ImportError / AttributeError on Keras 3).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _migrate_corpus import EXPECTED, corpus_files, header, migrate_corpus_file, report_text

from kutils.migrate import migrate_code, migrate_file

FILES = corpus_files()
RUNNABLE = [path for path in FILES if "runnable" in header(path)]


def test_the_corpus_covers_each_form():
    assert len(FILES) >= 40
    assert len(RUNNABLE) >= 25
    assert any(path.suffix == ".ipynb" for path in FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_migrated_file_and_report_match_the_golden_ones(path):
    result = migrate_corpus_file(path)
    assert result.error is None
    assert result.new == (EXPECTED / path.name).read_bytes()
    assert report_text(result) == (EXPECTED / f"{path.name}.report").read_text()


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_a_second_run_changes_nothing(path, tmp_path):
    once = tmp_path / path.name
    once.write_bytes(migrate_corpus_file(path).new)
    flags = header(path)
    twice = migrate_file(once, only_removed="--only-removed" in flags, fix_keras3="--fix-keras3" in flags)
    assert twice.error is None
    assert twice.new == twice.old
    assert all(not finding.applied for _cell, finding in twice.findings)


def test_files_without_keras_utils_come_out_identical():
    for name in ("nothing_to_migrate.py", "keras_other_only.py", "report_backend.py"):
        assert (EXPECTED / name).read_bytes() == (EXPECTED.parent / "inputs" / name).read_bytes()


def _run(paths, workdir):
    # The scripts are Keras 2 code moved to Keras 3: run them on Keras 3 whatever line the suite tests.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    env.pop("TF_USE_LEGACY_KERAS", None)
    runner = Path(__file__).parent / "_migrate_runner.py"
    completed = subprocess.run(
        [sys.executable, str(runner), str(workdir), *map(str, paths)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("VERDICTS ")]
    assert lines, completed.stderr[-3000:]
    return json.loads(lines[-1][len("VERDICTS ") :])


@pytest.mark.slow
def test_migrated_runnable_files_run_on_keras3_and_their_originals_did_not(tmp_path):
    migrated = []
    for path in RUNNABLE:
        target = tmp_path / "migrated" / path.name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes((EXPECTED / path.name).read_bytes())
        migrated.append(target)
    verdicts = _run(migrated, tmp_path)
    failed = {Path(path).name: verdict for path, verdict in verdicts.items() if verdict != "ok"}
    assert failed == {}

    originals = _run(RUNNABLE, tmp_path)
    broken = {Path(path).name for path, verdict in originals.items() if verdict != "ok"}
    # Before migration, Keras 3 fails these (no keras.utils.np_utils, no HDF5Matrix, no fit_generator ...).
    assert {
        "from_np_utils.py",
        "from_io_utils.py",
        "import_keras_np_utils_dotted.py",
        "fix3_fit_generator.py",
        "fix3_optimizers.py",
        "star_np_utils.py",
        "try_except_import.py",
    } <= broken
    assert len(broken) >= len(RUNNABLE) // 2


def test_the_doc_example_of_migrate_code():
    assert (
        migrate_code("from keras.utils import to_categorical\n")[0] == "from kutils import to_categorical\n"
    )
