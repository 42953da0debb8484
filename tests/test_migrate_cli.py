"""`kutils migrate` as a command, in subprocesses: modes, exit statuses, files it writes and leaves."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

KERAS2 = "import keras\nfrom keras.utils import to_categorical, pad_sequences\ny = keras.utils.normalize(x)\n"
MIGRATED = (
    "import keras\nfrom keras.utils import pad_sequences\nfrom kutils import to_categorical\nimport kutils\n"
    "y = kutils.normalize(x)\n"
)
CONSOLE_SCRIPT = Path(sys.executable).parent / "kutils"


def migrate(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "kutils", "migrate", *map(str, args)]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "train.py").write_text(KERAS2)
    (tmp_path / "pkg" / "clean.py").write_text("import numpy as np\n")
    (tmp_path / ".venv").mkdir()  # hidden folders are not walked
    (tmp_path / ".venv" / "site.py").write_text(KERAS2)
    return tmp_path


def test_default_prints_a_diff_and_a_report_and_changes_nothing(project):
    result = migrate(project)
    assert result.returncode == 0, result.stderr
    assert f"--- a/{str(project / 'pkg' / 'train.py').lstrip('/')}" in result.stdout
    assert "-from keras.utils import to_categorical, pad_sequences\n" in result.stdout
    assert "+from kutils import to_categorical\n" in result.stdout
    assert "+y = kutils.normalize(x)\n" in result.stdout
    assert "site.py" not in result.stdout + result.stderr
    assert "kutils migrate: 2 files, 1 to change" in result.stderr
    train = project / "pkg" / "train.py"
    assert f"{train}:3: changed: keras.utils.normalize -> kutils.normalize" in result.stderr
    assert (project / "pkg" / "train.py").read_text() == KERAS2


def test_the_diff_applies_with_patch(project):
    diff = migrate(project / "pkg" / "train.py").stdout
    patched = subprocess.run(
        ["patch", "-p1", "-d", "/", "--dry-run"], input=diff, capture_output=True, text=True, check=False
    )
    assert patched.returncode == 0, patched.stdout + patched.stderr


@pytest.mark.slow  # three runs of the command
def test_check_exits_1_when_something_would_change_and_0_when_not(project):
    assert migrate("--check", project).returncode == 1
    assert (project / "pkg" / "train.py").read_text() == KERAS2
    assert migrate("--check", project / "pkg" / "clean.py").returncode == 0


@pytest.mark.slow  # three runs of the command
def test_write_rewrites_in_place_and_a_second_check_passes(project):
    target = project / "pkg" / "train.py"
    result = migrate("--write", project)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert target.read_text() == MIGRATED
    assert migrate("--check", project).returncode == 0
    assert not [p for p in target.parent.iterdir() if "kutils-migrate" in p.name]  # no temporary left


def test_write_keeps_the_file_mode_the_encoding_and_the_line_endings(tmp_path):
    source = (
        "# -*- coding: latin-1 -*-\r\n"
        "# Données d'entraînement\r\n"
        "from keras.utils import to_categorical\r\n"
        "LABEL = 'été'\r\n"
    ).encode("latin-1")
    target = tmp_path / "script.py"
    target.write_bytes(source)
    target.chmod(0o751)
    assert migrate("--write", target).returncode == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o751
    assert target.read_bytes() == source.replace(b"from keras.utils", b"from kutils")


def test_write_keeps_a_utf8_bom_and_adds_lines_with_the_file_s_line_ending(tmp_path):
    target = tmp_path / "bom.py"
    target.write_bytes(b"\xef\xbb\xbfimport keras\r\nx = keras.utils.to_categorical([0])\r\n")
    assert migrate("--write", target).returncode == 0
    assert (
        target.read_bytes()
        == b"\xef\xbb\xbfimport keras\r\nimport kutils\r\nx = kutils.to_categorical([0])\r\n"
    )


def test_a_file_that_does_not_parse_is_reported_left_alone_and_the_run_goes_on(project):
    broken = project / "pkg" / "broken.py"
    broken.write_text("from keras.utils import to_categorical\ndef f(:\n")
    result = migrate("--write", project)
    assert result.returncode == 1
    assert f"{broken}: ERROR: does not parse (line 2" in result.stderr
    assert broken.read_text() == "from keras.utils import to_categorical\ndef f(:\n"
    assert (project / "pkg" / "train.py").read_text() == MIGRATED


@pytest.mark.parametrize(
    ("line", "python2"),
    [
        ('print "epoch", epoch', True),
        ("print 'loss: %.3f' % loss", True),
        ("raise ValueError, 'bad'", True),
        ("exec 'x = 1'", True),
        ("def f(:", False),
        ("print(x", False),
    ],
)
def test_a_python2_file_is_named_as_such_with_what_to_do(tmp_path, line, python2):
    """Keras 2-era code bases still hold Python 2 files; the report says so, and how to port them."""
    source = tmp_path / "old.py"
    source.write_text(f"from keras.utils import np_utils\n{line}\n")
    result = migrate(source)
    assert result.returncode == 1
    assert "does not parse" in result.stderr
    assert ("looks like Python 2 code" in result.stderr) == python2
    if python2:
        assert repr(line) in result.stderr
        assert "port the file to Python 3 first" in result.stderr


def test_json_report_parses_and_holds_findings_diffs_and_errors(project):
    (project / "pkg" / "fit.py").write_text("model.fit_generator(gen, steps_per_epoch=2)\n")
    (project / "pkg" / "broken.py").write_text("def f(:\n")
    result = migrate("--json", "--fix-keras3", project)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    files = {Path(entry["path"]).name: entry for entry in report["files"]}
    assert files["train.py"]["changed"] is True
    assert "+from kutils import to_categorical" in files["train.py"]["diff"]
    assert [f["rule"] for f in files["fit.py"]["findings"]] == ["fit_generator"]
    assert files["fit.py"]["findings"][0]["applied"] is True
    assert "does not parse" in files["broken.py"]["error"]
    assert report["summary"] == {"files": 4, "changed": 2, "errors": 1, "keras3_left": 0}
    assert (project / "pkg" / "fit.py").read_text() == "model.fit_generator(gen, steps_per_epoch=2)\n"


def test_only_removed_leaves_names_keras3_kept_unchanged(tmp_path):
    target = tmp_path / "a.py"
    target.write_text("from keras.utils import get_source_inputs, to_categorical\n")
    migrate("--write", "--only-removed", target)
    expected = "from keras.utils import get_source_inputs\nfrom kutils import to_categorical\n"
    assert target.read_text() == expected


def test_notebooks_are_migrated_cell_by_cell(tmp_path):
    notebook = {
        "cells": [
            {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["%pylab\n", "import keras"]},
            {"cell_type": "markdown", "metadata": {}, "source": ["keras.utils.normalize"]},
            {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["keras.utils.normalize(x)"]},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    target = tmp_path / "n.ipynb"
    target.write_text(json.dumps(notebook, indent=1) + "\n")
    result = migrate("--write", target)
    assert result.returncode == 0, result.stderr
    assert f"{target}:cell 1:1: changed: keras.utils.normalize -> kutils.normalize" in result.stderr
    written = json.loads(target.read_text())
    assert [cell["source"] for cell in written["cells"]] == [
        ["%pylab\n", "import keras\n", "import kutils"],
        ["keras.utils.normalize"],
        ["kutils.normalize(x)"],
    ]
    assert target.read_text() == json.dumps(written, indent=1) + "\n"


def test_a_missing_path_is_an_error_naming_it(tmp_path):
    result = migrate(tmp_path / "nope")
    assert result.returncode == 1
    assert "nope' is neither a file nor a folder" in result.stderr


def test_console_script_and_usage_errors(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    both = subprocess.run(
        [str(CONSOLE_SCRIPT), "migrate", "--write", "--check", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr
    listed = subprocess.run(
        [str(CONSOLE_SCRIPT), "migrate", "--help"], env=env, capture_output=True, text=True, check=False
    )
    assert listed.returncode == 0
    assert "--fix-keras3" in listed.stdout
    assert "--only-removed" in listed.stdout


def test_without_libcst_the_error_names_the_pip_command(tmp_path):
    (tmp_path / "a.py").write_text(KERAS2)
    code = (
        "import sys; sys.modules['libcst'] = None\n"
        "from kutils.cli import main\n"
        f"raise SystemExit(main(['migrate', {str(tmp_path)!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert 'pip install "kutils[migrate]"' in result.stderr
    assert "Traceback" not in result.stderr
