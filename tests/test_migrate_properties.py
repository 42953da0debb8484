"""Properties of `kutils migrate` on generated Keras 2-shaped modules (hypothesis).

- a second run changes nothing: migrate(migrate(x)) == migrate(x), in every mode;
- a module with nothing to migrate comes out byte-identical;
- the output still compiles, and no import of a Keras 2 utils path kutils
  provides is left behind.
"""

from __future__ import annotations

import ast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kutils._migrate_imports import catalog_from_package
from kutils.migrate import migrate_code

CATALOG = catalog_from_package()
PROVIDED = sorted(
    {"to_categorical", "normalize", "Sequence", "Progbar", "get_file", "HDF5Matrix", "multi_gpu_model"}
    & CATALOG.top_level
)
SUBMODULES = sorted({"np_utils", "generic_utils", "data_utils", "io_utils"} & set(CATALOG.submodules))
NOT_PROVIDED = ["pad_sequences", "image_dataset_from_directory", "set_random_seed"]
PACKAGES = ["keras.utils", "tensorflow.keras.utils"]
ALIASES = ["ku", "utils", "u2", "kutils_alias"]

names = st.sampled_from(PROVIDED + NOT_PROVIDED)
provided = st.sampled_from(PROVIDED)


@st.composite
def import_lines(draw: st.DrawFn) -> list[str]:
    """One Keras 2 import statement and a use of what it binds."""
    package = draw(st.sampled_from(PACKAGES))
    form = draw(st.integers(0, 7))
    alias = draw(st.sampled_from(ALIASES))
    name = draw(names)
    if form == 0:
        chosen = draw(st.lists(names, min_size=1, max_size=3, unique=True))
        return [f"from {package} import {', '.join(chosen)}", f"v = {chosen[0]}"]
    if form == 1:
        return [f"from {package} import {name} as {alias}_n", f"v = {alias}_n"]
    if form == 2:
        return [f"import {package} as {alias}", f"v = {alias}.{name}(1)"]
    if form == 3:
        return [f"from {package.rpartition('.')[0]} import utils", f"v = utils.{name}"]
    if form == 4:
        return ["import keras", f"v = keras.utils.{name}([0])"]
    if form == 5:
        return ["import tensorflow as tf", f"v = tf.keras.utils.{name}"]
    if form == 6 and SUBMODULES:
        sub = draw(st.sampled_from(SUBMODULES))
        return [f"from keras.utils import {sub}", f"v = {sub}.{draw(names)}"]
    return [f"from {package} import *", "v = 1"]


noise_lines = st.sampled_from(
    [
        "x = 1",
        "# keras.utils.to_categorical in a comment",
        "s = 'from keras.utils import to_categorical'",
        "import numpy as np",
        "from keras.layers import Dense",
        "kutils_value = 3",
        "",
    ]
)


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line if line else line for line in lines]


@st.composite
def blocks(draw: st.DrawFn, keras: bool) -> list[str]:
    lines = draw(import_lines()) if keras else [draw(noise_lines)]
    wrapper = draw(st.integers(0, 4))
    if wrapper:
        lines = [*lines, "pass"]  # a block needs one statement besides comments
    if wrapper == 1:
        return ["def f():", *_indent(lines), "    return None"]
    if wrapper == 2:
        return ["try:", *_indent(lines), "except ImportError:", "    pass"]
    if wrapper == 3:
        return ["if True:", *_indent(lines)]
    if wrapper == 4:
        return ["class C:", *_indent(lines), "    pass"]
    return lines


@st.composite
def modules(draw: st.DrawFn, keras: bool = True) -> str:
    parts = draw(
        st.lists(st.one_of(blocks(keras), noise_lines.map(lambda line: [line])), min_size=1, max_size=6)
    )
    return "\n".join(line for part in parts for line in part) + "\n"


# Each property runs the command on 60 generated modules (~15 s on a loaded machine).
pytestmark = pytest.mark.slow

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODES = st.sampled_from([{}, {"fix_keras3": True}, {"only_removed": True}])


@SETTINGS
@given(modules(), MODES)
def test_a_second_run_changes_nothing(code, mode):
    once, _ = migrate_code(code, **mode)
    twice, findings = migrate_code(once, **mode)
    assert twice == once
    assert not [f for f in findings if f.applied]


@SETTINGS
@given(modules(keras=False), MODES)
def test_a_module_with_nothing_to_migrate_comes_out_identical(code, mode):
    out, findings = migrate_code(code, **mode)
    assert out == code
    assert not [f for f in findings if f.applied]


@SETTINGS
@given(modules())
def test_the_output_compiles_and_imports_no_provided_keras_utils_name(code):
    out, _ = migrate_code(code)
    tree = ast.parse(out)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in PACKAGES:
            assert not {alias.name for alias in node.names} & set(PROVIDED), out
