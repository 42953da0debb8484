"""Run as a script: loads the models of `_lambda_save.py` in a process whose globals lack `tf`/`double_it`.

    python _lambda_load.py LINE FOLDER

Prints one JSON object: for each file and each way of loading (no scope, a kutils scope, Keras'
`custom_objects=` inside an empty kutils scope), the predictions or the error it raised.
"""

import json
import sys
from pathlib import Path

import numpy as np
import tensorflow

from kutils import CustomObjectScope

line = __import__(sys.argv[1])
folder = Path(sys.argv[2])
x = np.load(folder / "x.npy")


def doubler(values):
    return 2.0 * values


names = {"tf": tensorflow, "double_it": doubler}


def attempt(load):
    try:
        model = load()
        return model.predict(x, verbose=0).tolist()  # run after the scope closed, as real code does
    except Exception as error:  # reported to the test, which checks which ways fail
        return f"{type(error).__name__}: {error}"[:400]


def in_kutils_scope(path):
    with CustomObjectScope(names):
        return line.models.load_model(path, safe_mode=False)


def with_custom_objects_argument(path):
    with CustomObjectScope():
        return line.models.load_model(path, custom_objects=names, safe_mode=False)


results = {}
for name in ("lambdas", "plain"):
    for suffix in (".h5", ".keras"):
        path = folder / f"{name}{suffix}"
        results[f"{name}{suffix}"] = {
            "no scope": attempt(lambda path=path: line.models.load_model(path, safe_mode=False)),
            "kutils scope": attempt(lambda path=path: in_kutils_scope(path)),
            "custom_objects": attempt(lambda path=path: with_custom_objects_argument(path)),
        }
print(json.dumps(results))
