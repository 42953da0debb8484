"""Process workers in Keras 2 programs that 'forkserver' would break: no `__main__` guard, no main file.

Each program runs as a user runs it (`python script.py`, `python -c`), with
`OrderedEnqueuer(use_multiprocessing=True)` over a `Sequence` class defined in
the program itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kutils import _main_module

REPO = Path(__file__).resolve().parents[1]

PROGRAM_BODY = """
import numpy as np
from kutils import OrderedEnqueuer, Sequence
print("top-level code ran", flush=True)

class Batches(Sequence):
    def __len__(self):
        return 5

    def __getitem__(self, index):
        return np.full((2, 3), index), np.full(2, index)

def first_batches(count):
    enqueuer = OrderedEnqueuer(Batches(), use_multiprocessing=True)
    enqueuer.start(workers=2, max_queue_size=3)
    batches = enqueuer.get()
    seen = [int(next(batches)[0][0, 0]) for _ in range(count)]
    enqueuer.stop()
    return seen
"""


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=300, env=env, cwd=cwd, check=False
    )


@pytest.mark.slow
def test_script_without_main_guard_forks_its_workers_as_keras_224_did(tmp_path: Path):
    """The top-level code runs once (forkserver would run it again in each worker, which then dies)."""
    script = tmp_path / "train.py"
    script.write_text(PROGRAM_BODY + "print('batches', first_batches(7))\n")
    result = _run(str(script), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("top-level code ran") == 1
    assert "batches [0, 1, 2, 3, 4, 0, 1]" in result.stdout
    assert "has no 'if __name__ == \"__main__\":' guard, so its worker processes are forked" in result.stderr
    assert f"{script}" in result.stderr


@pytest.mark.slow
def test_script_with_main_guard_keeps_forkserver_and_says_nothing(tmp_path: Path):
    script = tmp_path / "train.py"
    script.write_text(
        PROGRAM_BODY
        + "if __name__ == '__main__':\n"
        + "    import multiprocessing\n"
        + "    print('batches', first_batches(3))\n"
        + "    print('method', multiprocessing.get_start_method(allow_none=True))\n"
    )
    result = _run(str(script), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "batches [0, 1, 2]" in result.stdout
    assert "guard" not in result.stderr
    assert result.stdout.count("top-level code ran") >= 1  # again in the forkserver: the guard protects it


@pytest.mark.slow
def test_sequence_class_of_python_c_reaches_the_workers_by_value(tmp_path: Path):
    """`python -c` (like a notebook) has no main file: the class goes by value (cloudpickle)."""
    result = _run("-c", PROGRAM_BODY + "print('batches', first_batches(6))\n", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "batches [0, 1, 2, 3, 4, 0]" in result.stdout
    assert "guard" not in result.stderr


@pytest.mark.parametrize(
    ("source", "guarded"),
    [
        ("if __name__ == '__main__':\n    main()\n", True),
        ('if "__main__" == __name__:\n    main()\n', True),
        ("if __name__ != '__main__':\n    pass\nelse:\n    main()\n", True),
        ("import sys\nif sys.argv and __name__ == '__main__':\n    main()\n", True),
        ("main()\n", False),
        ("def main():\n    if __name__ == '__main__':\n        pass\nmain()\n", False),  # not top level
        ("if __name__ == 'train':\n    main()\n", False),
        ("this is not python (\n", True),  # unreadable: kutils keeps its default
    ],
)
def test_main_guard_detection(tmp_path: Path, source: str, guarded: bool):
    path = tmp_path / "program.py"
    path.write_text(source)
    assert _main_module._has_main_guard(str(path)) is guarded
