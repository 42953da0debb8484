"""Tests for the kutils namespace: light import, explicit __all__, Keras 2.2.4 names and module paths."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import types

import pytest

import kutils

# What Keras 2.2.4 `keras/utils/__init__.py` exported (keras-utils-api.md §2).
KERAS_224_UTILS_EXPORTS = {
    "HDF5Matrix",
    "h5dict",
    "get_file",
    "Sequence",
    "GeneratorEnqueuer",
    "OrderedEnqueuer",
    "CustomObjectScope",
    "custom_object_scope",
    "get_custom_objects",
    "serialize_keras_object",
    "deserialize_keras_object",
    "Progbar",
    "convert_all_kernels_in_model",
    "get_source_inputs",
    "print_summary",
    "plot_model",
    "to_categorical",
    "normalize",
    "multi_gpu_model",
}

# Public names of the Keras 2.2.4 submodules that user code imported (keras-utils-api.md §2, §3.11).
KERAS_224_SUBMODULE_NAMES = {
    "np_utils": {"to_categorical", "normalize"},
    "generic_utils": {
        "CustomObjectScope",
        "custom_object_scope",
        "get_custom_objects",
        "serialize_keras_object",
        "deserialize_keras_object",
        "Progbar",
        "has_arg",
        "to_list",
        "func_dump",
        "func_load",
        "slice_arrays",
    },
    "data_utils": {
        "get_file",
        "validate_file",
        "Sequence",
        "SequenceEnqueuer",
        "OrderedEnqueuer",
        "GeneratorEnqueuer",
    },
    "io_utils": {"HDF5Matrix", "H5Dict", "h5dict"},
    "layer_utils": {"convert_all_kernels_in_model", "get_source_inputs", "print_summary", "count_params"},
    "vis_utils": {"plot_model", "model_to_dot"},
    "multi_gpu_utils": {"multi_gpu_model"},
}

ALIAS_MODULES = sorted(KERAS_224_SUBMODULE_NAMES)


def run_fresh(code: str) -> object:
    """Runs `code` in a fresh interpreter and returns the JSON it prints last."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


HEAVY_MODULES = (
    "import json, sys\n"
    "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))\n"
    "print(json.dumps(heavy))\n"
)


def test_import_kutils_loads_neither_tensorflow_nor_keras():
    """A bare `import kutils` in a fresh process imports no TensorFlow or Keras module."""
    assert run_fresh("import kutils\n" + HEAVY_MODULES) == []


def test_alias_modules_and_light_names_stay_light():
    """Importing the alias modules and using to_categorical, normalize, Progbar and get_file loads no TF."""
    code = (
        "import io\n"
        "import kutils, kutils.np_utils, kutils.generic_utils, kutils.data_utils\n"
        "kutils.to_categorical([0, 2, 1]); kutils.normalize([[3.0, 4.0]])\n"
        "kutils.Progbar(1, file=io.StringIO()).update(1)\n"
        "kutils.get_file\n"
        "from kutils.np_utils import to_categorical\n"
        "from kutils.generic_utils import to_list, slice_arrays\n" + HEAVY_MODULES
    )
    assert run_fresh(code) == []


def test_all_is_explicit_sorted_and_what_dir_shows():
    """kutils.__all__ is a sorted list, and dir(kutils) shows exactly it plus the Keras 2 submodule paths."""
    code = (
        "import json, kutils\n"
        "public = [n for n in dir(kutils) if not n.startswith('_')]\n"
        "print(json.dumps({'all': kutils.__all__, 'dir': public}))\n"
    )
    seen = run_fresh(code)
    assert isinstance(kutils.__all__, list)
    assert seen["all"] == sorted(seen["all"])
    assert seen["all"] == kutils.__all__
    assert set(seen["dir"]) == set(seen["all"]) | set(ALIAS_MODULES)


def test_every_keras_224_utils_export_is_offered():
    """Every name Keras 2.2.4 `keras.utils` exported is in kutils.__all__."""
    assert KERAS_224_UTILS_EXPORTS - set(kutils.__all__) == set()


@pytest.mark.parametrize("module_name", ALIAS_MODULES)
def test_alias_module_offers_keras_224_names(module_name):
    """Each Keras 2.2.4 submodule path lists its 2.2.4 public names in a sorted __all__ that dir() shows."""
    module = importlib.import_module(f"kutils.{module_name}")
    assert module.__all__ == sorted(module.__all__)
    assert KERAS_224_SUBMODULE_NAMES[module_name] - set(module.__all__) == set()
    assert set(module.__all__) <= set(dir(module))


def test_submodule_paths_are_attributes():
    """kutils.np_utils and the other Keras 2 paths are reachable as attributes without importing them."""
    code = (
        "import json, kutils\n"
        f"print(json.dumps([type(getattr(kutils, n)).__name__ for n in {ALIAS_MODULES!r}]))\n"
    )
    assert run_fresh(code) == ["module"] * len(ALIAS_MODULES)
    assert isinstance(kutils.np_utils, types.ModuleType)


def test_keras_2_import_line_works():
    """`from kutils.np_utils import to_categorical` gives the same function as the top level."""
    from kutils.np_utils import normalize, to_categorical

    assert to_categorical is kutils.to_categorical
    assert normalize is kutils.normalize
    assert to_categorical([1, 0]).shape == (2, 2)


def test_unknown_name_raises_attribute_error():
    """A name kutils does not define raises AttributeError naming it."""
    with pytest.raises(AttributeError, match="no_such_util"):
        kutils.no_such_util  # noqa: B018
    with pytest.raises(AttributeError, match="no_such_util"):
        kutils.np_utils.no_such_util  # noqa: B018


@pytest.mark.parametrize("module_name", ["", *ALIAS_MODULES])
def test_every_exported_name_resolves(module_name):
    """Every name in every __all__ resolves to a real object, the same one as at the top level."""
    module = importlib.import_module(f"kutils.{module_name}" if module_name else "kutils")
    missing = []
    for name in module.__all__:
        try:
            value = getattr(module, name)
        except (AttributeError, ImportError) as error:
            missing.append(f"{name}: {error}")
            continue
        assert value is not None, name
        if module_name and name in kutils.__all__:
            assert value is getattr(kutils, name), name
    assert missing == []
