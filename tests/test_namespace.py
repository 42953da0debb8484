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
        "_hash_file",
        "_extract_archive",
        "urlretrieve",
    },
    "io_utils": {"HDF5Matrix", "H5Dict", "h5dict"},
    "layer_utils": {"convert_all_kernels_in_model", "get_source_inputs", "print_summary", "count_params"},
    "vis_utils": {"plot_model", "model_to_dot"},
    "multi_gpu_utils": {"multi_gpu_model"},
    "conv_utils": {
        "normalize_tuple",
        "normalize_padding",
        "normalize_data_format",
        "convert_kernel",
        "conv_output_length",
        "conv_input_length",
        "deconv_length",
    },
    "test_utils": {"get_test_data", "layer_test", "keras_test"},
}

ALIAS_MODULES = sorted(KERAS_224_SUBMODULE_NAMES)
# Attributes of `kutils` that are modules: the Keras 2 submodule paths and `kutils.utils`.
MODULE_ATTRIBUTES = [*ALIAS_MODULES, "utils"]


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
        "from kutils.generic_utils import to_list, slice_arrays\n"
        "import kutils.conv_utils, kutils.test_utils, kutils.utils.np_utils\n"
        "from kutils.utils import conv_utils, data_utils, test_utils\n"
        "from kutils.conv_utils import normalize_tuple, conv_output_length, convert_kernel\n"
        "from kutils.test_utils import layer_test, get_test_data, keras_test\n"
        "normalize_tuple(3, 2, 'kernel_size'); conv_output_length(10, 3, 'same', 1)\n"
        "get_test_data(num_train=4, num_test=2)\n" + HEAVY_MODULES
    )
    assert run_fresh(code) == []


def test_all_is_explicit_sorted_and_what_dir_shows():
    """kutils.__all__ is a sorted list; dir(kutils) shows it, the Keras 2 module paths and `errors`."""
    code = (
        "import json, kutils\n"
        "public = [n for n in dir(kutils) if not n.startswith('_')]\n"
        "print(json.dumps({'all': kutils.__all__, 'dir': public}))\n"
    )
    seen = run_fresh(code)
    assert isinstance(kutils.__all__, list)
    assert seen["all"] == sorted(seen["all"])
    assert seen["all"] == kutils.__all__
    assert set(seen["dir"]) == set(seen["all"]) | set(MODULE_ATTRIBUTES) | {"errors"}


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
        f"print(json.dumps([type(getattr(kutils, n)).__name__ for n in {MODULE_ATTRIBUTES!r}]))\n"
    )
    assert run_fresh(code) == ["module"] * len(MODULE_ATTRIBUTES)
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


@pytest.mark.slow  # resolving every name imports TensorFlow (distributed_fit, multi_gpu_model)
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


@pytest.mark.parametrize("module_name", ALIAS_MODULES)
def test_keras_utils_package_paths(module_name):
    """`kutils.utils.X`, `import kutils.utils.X` and `from kutils.utils import X` are the module kutils.X.

    Keras 2 code wrote `from keras.utils import np_utils` and `keras.utils.conv_utils.normalize_tuple`.
    """
    import kutils.utils

    flat = importlib.import_module(f"kutils.{module_name}")
    assert getattr(kutils.utils, module_name) is flat
    assert importlib.import_module(f"kutils.utils.{module_name}") is flat
    assert getattr(__import__("kutils.utils", fromlist=[module_name]), module_name) is flat


def test_keras_utils_package_offers_the_keras_utils_names():
    """`kutils.utils` exports what `keras.utils` did, the same objects as the top level."""
    import kutils.utils

    assert KERAS_224_UTILS_EXPORTS - set(kutils.utils.__all__) == set()
    assert kutils.utils.__all__ == kutils.__all__
    assert kutils.utils.to_categorical is kutils.to_categorical
    assert kutils.utils.HDF5Matrix is kutils.HDF5Matrix
    with pytest.raises(AttributeError, match="no_such_util"):
        kutils.utils.no_such_util  # noqa: B018


def test_keras_utils_package_paths_stay_light():
    """`import kutils.utils.conv_utils` in a fresh process and using its helpers loads no TensorFlow."""
    code = (
        "import kutils.utils.conv_utils\n"
        "from kutils.utils.np_utils import to_categorical\n"
        "import kutils\n"
        "kutils.utils.conv_utils.normalize_padding('SAME'); to_categorical([1, 0])\n" + HEAVY_MODULES
    )
    assert run_fresh(code) == []
