"""Benchmark of `kutils migrate` against TensorFlow's `tf_upgrade_v2` on the same code base.

    .venv/bin/python bench/bench_migrate.py

What it shows: the time per 1,000 source lines to migrate a Keras 2 code base
(the .py files of tests/migrate_corpus/inputs, copied COPIES times into a temporary
folder, plus one long generated training script), in memory: kutils in its
default mode and with `--fix-keras3`, and `tf_upgrade_v2`'s upgrader (the tool
users compare it to: it also parses every file and writes a report) on the same
files. Target: under 3 s per 1,000 lines on a quiet machine (a 10,000-line code
base in under half a minute, once); tf_upgrade_v2 is there for scale: libcst's
concrete syntax tree and scope analysis cost several times its `ast` walk.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import best_time, print_table

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "migrate_corpus" / "inputs"
COPIES = 3
REPEAT = 2

_LONG_SCRIPT_BLOCK = '''
def stage_{n}(model, x, y, generator):
    """Stage {n} of a Keras 2 training pipeline."""
    y_onehot = keras.utils.to_categorical(y, num_classes=10)
    x_norm = np_utils.normalize(x, axis=-1)
    optimizer = Adam(lr=0.001, decay=1e-6)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit_generator(generator, steps_per_epoch=100, epochs=2, verbose=0)
    bar = Progbar(target=len(x))
    for i in range(len(x)):
        bar.update(i + 1)
    scores = model.evaluate_generator(generator, steps=10)
    return y_onehot, x_norm, scores
'''


def _code_base(folder: Path) -> list[Path]:
    for copy in range(COPIES):
        target = folder / f"project_{copy}"
        target.mkdir()
        for source in sorted(CORPUS.glob("*.py")):
            shutil.copy(source, target / source.name)
    header = "import keras\nfrom keras.utils import np_utils, Progbar\nfrom keras.optimizers import Adam\n"
    (folder / "long_pipeline.py").write_text(
        header + "".join(_LONG_SCRIPT_BLOCK.format(n=n) for n in range(100))
    )
    return sorted(folder.rglob("*.py"))


def main() -> None:
    """Times kutils migrate and tf_upgrade_v2 over the same files; prints ms per 1,000 lines."""
    from tensorflow.tools.compatibility import ast_edits, tf_upgrade_v2

    from kutils.migrate import migrate_file

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "code"
        folder.mkdir()
        files = _code_base(folder)
        lines = sum(len(path.read_text().splitlines()) for path in files)
        out = Path(scratch) / "out.py"
        upgrader = ast_edits.ASTCodeUpgrader(tf_upgrade_v2.TFAPIChangeSpec())

        def kutils_default() -> None:
            for path in files:
                migrate_file(path)

        def kutils_fix() -> None:
            for path in files:
                migrate_file(path, fix_keras3=True)

        def tf_upgrade() -> None:
            for path in files:
                upgrader.process_file(str(path), str(out))

        kutils_default()  # warm up: imports, the catalog
        tf_upgrade()
        peer = best_time(tf_upgrade, repeat=REPEAT)
        rows = []
        for name, run in (("kutils migrate", kutils_default), ("kutils migrate --fix-keras3", kutils_fix)):
            seconds = best_time(run, repeat=REPEAT)
            rows.append([name, f"{seconds * 1e6 / lines:.0f}", seconds / peer])
        rows.append(["tf_upgrade_v2 (peer)", f"{peer * 1e6 / lines:.0f}", 1.0])
    print_table(
        f"{len(files)} files, {lines} lines; best of {REPEAT} (target: < 3 s per 1,000 lines)",
        ["tool", "ms per 1,000 lines", "time / tf_upgrade_v2"],
        rows,
    )


if __name__ == "__main__":
    main()
