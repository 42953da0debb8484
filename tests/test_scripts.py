"""Keras 2-era scripts run end to end as a user runs them: `python script.py`, one process each.

Each script in `tests/scripts/` is written as Keras 2 code was (the 2.2.4
examples, custom layers, data generators, test suites of custom-layer
projects), with only its `keras.utils` import changed to kutils (the changed
line keeps the original in a `# was:` comment) and a few unavoidable Keras 3
edits, each marked with a `# Keras 3:` comment. Its header line
`# kutils-script: lines=...` says which Keras lines it applies to: scripts that
`import keras` run on Keras 3 only; scripts written against `tf.keras` run on
Keras 3 and on tf_keras (`TF_USE_LEGACY_KERAS=1`).

The scripts download their data from a local HTTP server (`DATA_URL`), which
serves small synthetic stand-ins for the data sets they name. To keep the
suite short, the processes run a few at a time; each is checked by its own
test.
"""

from __future__ import annotations

import ast
import concurrent.futures
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _http_server import TestServer

SCRIPTS = Path(__file__).parent / "scripts"
LINES = ("keras3", "tf_keras")
# Seconds one script may take on a loaded machine before it counts as hung.
SCRIPT_TIMEOUT = 400
_HEADER = re.compile(r"^# kutils-script: lines=([\w,]+)$", re.M)


def _script_lines(path: Path) -> list[str]:
    match = _HEADER.search(path.read_text(encoding="utf-8"))
    assert match, f"{path.name} has no '# kutils-script: lines=...' header"
    lines = match.group(1).split(",")
    assert set(lines) <= set(LINES), f"{path.name}: unknown line in {lines}"
    return lines


SCRIPT_FILES = sorted(SCRIPTS.glob("*.py"))
RUNS = [(path.name, line) for path in SCRIPT_FILES for line in _script_lines(path)]


def _synthetic_data() -> dict[str, bytes]:
    """The files the scripts download: small, learnable stand-ins for the data sets they name."""
    rng = np.random.default_rng(2018)
    files: dict[str, bytes] = {}

    def digits(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 10, size=count).astype(np.uint8)
        images = rng.integers(0, 60, size=(count, 28, 28)).astype(np.uint8)
        for image, label in zip(images, labels, strict=True):
            row, col = divmod(int(label), 5)
            image[4 + 12 * row : 12 + 12 * row, 2 + 5 * col : 6 + 5 * col] = 250
        return images, labels

    (x_train, y_train), (x_test, y_test) = digits(1200), digits(300)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    files["mnist.npz"] = buffer.getvalue()

    words = ["the", "will", "to", "power", "is", "life", "and", "overcome", "itself"]
    files["nietzsche.txt"] = " ".join(rng.choice(words, size=1000)).encode()

    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for split, count in (("train", 400), ("test", 100)):
            features = rng.normal(size=(count, 8))
            labels = (features[:, 0] + features[:, 1] > 0).astype(int) + (features[:, 2] > 1).astype(int)
            rows = ["label," + ",".join(f"f{i}" for i in range(8))]
            rows += [f"{y}," + ",".join(f"{v:.5f}" for v in x) for x, y in zip(features, labels, strict=True)]
            content = ("\n".join(rows) + "\n").encode()
            info = tarfile.TarInfo(f"sensors/{split}.csv")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    files["sensors.tar.gz"] = archive.getvalue()
    md5 = hashlib.md5(files["sensors.tar.gz"]).hexdigest()
    files["sensors.tar.gz.md5"] = f"{md5}  sensors.tar.gz\n".encode()
    return files


def _environment(line: str, data_url: str, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TF_USE_LEGACY_KERAS", None)
    if line == "tf_keras":
        env["TF_USE_LEGACY_KERAS"] = "1"
    repo = str(Path(__file__).parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, env.get("PYTHONPATH")) if p)
    env.update(
        DATA_URL=data_url,
        HOME=str(home),
        KERAS_HOME=str(home / ".keras"),
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
        PYTHONUNBUFFERED="1",
        MPLBACKEND="Agg",
    )
    return env


def _run(script: str, line: str, data_url: str, folder: Path) -> subprocess.CompletedProcess[str]:
    folder.mkdir(parents=True)
    return subprocess.run(
        [sys.executable, str(SCRIPTS / script)],
        cwd=folder,
        env=_environment(line, data_url, folder),
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def script_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[tuple[str, str], concurrent.futures.Future[subprocess.CompletedProcess[str]]]]:
    """Starts the selected script runs, a few processes at a time; maps (script, line) to its result."""
    selected = [
        (item.callspec.params["script"], item.callspec.params["line"])
        for item in request.session.items
        # getattr: the session also holds the docs pages' example items (Sybil), which have no originalname
        if getattr(item, "originalname", None) == "test_script_runs_end_to_end"
    ]
    root = tmp_path_factory.mktemp("scripts")
    with TestServer() as server:
        for name, body in _synthetic_data().items():
            server.add(f"/datasets/{name}", body)
        data_url = server.url("/datasets/")
        workers = max(2, min(4, os.cpu_count() or 2))
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {
                (script, line): pool.submit(_run, script, line, data_url, root / f"{script[:-3]}-{line}")
                for script, line in selected
            }
            yield futures
            for future in futures.values():
                future.cancel()


@pytest.mark.slow
@pytest.mark.parametrize(("script", "line"), RUNS, ids=[f"{s.removesuffix('.py')}-{k}" for s, k in RUNS])
def test_script_runs_end_to_end(script_runs, script: str, line: str):
    """The script exits with status 0 (its own checks passed) on this Keras line."""
    result = script_runs[(script, line)].result(timeout=SCRIPT_TIMEOUT * len(RUNS))
    output = f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    assert result.returncode == 0, f"{script} on {line} failed:\n{output}"


@pytest.mark.parametrize("path", SCRIPT_FILES, ids=[p.stem for p in SCRIPT_FILES])
def test_script_changes_only_its_utils_import(path: Path):
    """No script imports keras.utils; each kutils import line names the Keras 2 line it replaced."""
    text = path.read_text(encoding="utf-8")
    imported = [
        name
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
        )
    ]
    assert not [name for name in imported if re.match(r"(tensorflow\.)?keras\.utils\b", name)]
    imports = [line for line in text.splitlines() if re.match(r"\s*(from|import) kutils\b", line)]
    assert imports, f"{path.name} does not use kutils"
    for line in imports:
        assert re.search(r"# was: (from|import) (tensorflow\.)?keras\.utils", line), line


def test_there_are_at_least_twelve_scripts():
    assert len(SCRIPT_FILES) >= 12
