"""Runs migrated corpus scripts and notebooks in one process; prints a JSON verdict per file.

Usage: python _migrate_runner.py WORKDIR FILE... Each file runs as `__main__`
in WORKDIR with its own globals; a notebook runs its code cells in order,
without IPython magic lines. The verdict is "ok" or the exception's type and
message.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def _code(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not path.endswith(".ipynb"):
        return text
    cells = json.loads(text)["cells"]
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]
    code = [s for c, s in zip(cells, sources, strict=True) if c["cell_type"] == "code"]
    lines = [line for s in code for line in s.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines) + "\n"


def main() -> None:
    workdir, *paths = sys.argv[1:]
    os.chdir(workdir)
    verdicts = {}
    for path in paths:
        try:
            exec(compile(_code(path), path, "exec"), {"__name__": "__main__", "__file__": path})
            verdicts[path] = "ok"
        except BaseException as error:  # every failure is a verdict
            verdicts[path] = f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=-2)}"
    print("VERDICTS " + json.dumps(verdicts))


if __name__ == "__main__":
    main()
