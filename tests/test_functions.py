"""Tests for kutils.functions: has_arg, getargspec, func_dump/func_load and the 2.2.4 list helpers."""

from __future__ import annotations

import base64
import json
import marshal

import numpy as np
import pytest
from _custom_objects_support import clean_custom_objects  # noqa: F401  (autouse fixture)

from kutils import generic_utils
from kutils.functions import (
    ArgSpec,
    NotAFunctionError,
    func_dump,
    func_load,
    getargspec,
    has_arg,
    is_all_none,
    object_list_uid,
    transpose_shape,
    unpack_singleton,
)


def sample(a, /, b, *args, c, d=4, **options):
    """One parameter of each kind."""
    return a, b, args, c, d, options


# --- has_arg and getargspec ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "accept_all", "expected"),
    [
        ("b", False, True),  # positional or keyword
        ("c", False, True),  # keyword-only
        ("d", False, True),
        ("a", False, False),  # positional-only: cannot be passed by keyword
        ("a", True, False),
        ("args", False, False),  # *args is not a keyword
        ("missing", False, False),
        ("missing", True, True),  # accepted by **options
    ],
)
def test_has_arg_follows_python_keyword_rules(name, accept_all, expected):
    """has_arg is True when `name` can be passed as a keyword (or **kwargs takes it, with accept_all)."""
    assert has_arg(sample, name, accept_all=accept_all) is expected


def test_has_arg_without_var_keyword_ignores_accept_all_and_reads_classes_and_methods():
    """accept_all needs a **kwargs; classes and bound methods are inspected through their signatures."""

    class Box:
        def __init__(self, size):
            self.size = size

        def grow(self, by=1):
            return self.size + by

    assert has_arg(Box, "size")
    assert not has_arg(Box, "self")
    assert has_arg(Box(1).grow, "by")
    assert not has_arg(Box(1).grow, "other", accept_all=True)


def test_has_arg_on_a_non_callable_raises_type_error():
    """A non-callable `fn` raises TypeError naming it."""
    with pytest.raises(TypeError, match=r"needs a callable `fn`, got int: 3"):
        has_arg(3, "x")


def test_getargspec_returns_the_python_2_style_spec():
    """getargspec gives args, varargs, keywords (the **kwargs name) and defaults."""

    def fn(x, y=2, *rest, **extra):
        return x

    assert getargspec(fn) == ArgSpec(args=["x", "y"], varargs="rest", keywords="extra", defaults=(2,))
    assert getargspec(fn).keywords == "extra"


# --- func_dump and func_load ---------------------------------------------------------------------


def make_closure(offset):
    """A function with a closure cell and a default."""

    def shifted(x, scale=2):
        return x * scale + offset

    return shifted


def test_func_dump_gives_base64_marshal_text_defaults_and_closure():
    """The code is ASCII base64 of the marshalled bytecode; defaults and closure values come along."""
    function = make_closure(10)
    code, defaults, closure = func_dump(function)
    assert code.isascii()
    assert marshal.loads(base64.b64decode(code)) == function.__code__
    assert defaults == (2,)
    assert closure == (10,)
    assert func_dump(lambda: 1)[1:] == (None, None)


@pytest.mark.parametrize(
    "dumped",
    [
        lambda function: func_dump(function),
        lambda function: json.loads(json.dumps(func_dump(function))),  # a list with list defaults
    ],
    ids=["tuple", "json-list"],
)
def test_func_load_rebuilds_the_function_from_a_tuple_or_a_json_list(dumped):
    """func_load accepts the whole dump, as a tuple or as the list JSON gives back, closure included."""
    loaded = func_load(dumped(make_closure(10)))
    assert loaded(5) == 5 * 2 + 10
    assert loaded(5, scale=3) == 25
    assert loaded.__name__ == "shifted"


def test_func_load_with_separate_arguments_and_globals():
    """code, defaults, closure and globs can be passed separately; globs become the function's globals."""
    code, defaults, closure = func_dump(lambda x: x + LIMIT)  # noqa: F821  (LIMIT comes from globs)
    assert func_load(code, defaults, closure, globs={"LIMIT": 100})(1) == 101


def test_func_load_default_globals_offer_numpy_but_not_kutils_internals():
    """Without globs, a loaded lambda can use `np` (as with Keras 2.2.4) and sees no kutils names."""
    loaded = func_load(func_dump(lambda x: np.sum(x) * 2))
    assert loaded([1, 2, 3]) == 12
    assert "func_dump" not in loaded.__globals__
    assert sorted(loaded.__globals__) == ["__builtins__", "np"]


def test_func_load_reads_the_pre_2_1_2_raw_unicode_escape_format():
    """Code text that Keras before 2.1.2 wrote (marshal bytes as raw_unicode_escape text) still loads."""

    def add_one(x):
        return x + 1

    legacy_text = marshal.dumps(add_one.__code__).decode("raw_unicode_escape")
    assert func_load(legacy_text)(41) == 42


def test_func_dump_of_a_non_function_raises_type_and_attribute_error():
    """Built-ins and classes cannot be dumped; the error is a TypeError and 2.2.4's AttributeError."""
    for not_a_function in (len, dict):
        with pytest.raises(NotAFunctionError, match=r"needs a Python function") as raised:
            func_dump(not_a_function)
        assert isinstance(raised.value, TypeError)
        assert isinstance(raised.value, AttributeError)
        assert type(not_a_function).__name__ in str(raised.value)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("not marshal data at all \u2603", r"could not read the function code"),
        (base64.b64encode(marshal.dumps(42)).decode("ascii"), r"holds a int, not function code"),
        (123, r"needs the code text from func_dump\(\), got int"),
    ],
    ids=["garbage", "not-code", "not-text"],
)
def test_func_load_of_bad_code_raises_value_error(code, message):
    """Text that is not dumped function code raises ValueError saying what was wrong."""
    with pytest.raises(ValueError, match=message):
        func_load(code)


def test_func_load_with_a_closure_of_the_wrong_size_raises_value_error():
    """The closure must match the code's free variables; the message names the function and the variable."""
    code, defaults, _ = func_dump(make_closure(1))
    with pytest.raises(ValueError, match=r"'shifted' needs 1 closure value\(s\) \('offset',\), got 0"):
        func_load(code, defaults, None)


# --- list and shape helpers ----------------------------------------------------------------------


def test_unpack_singleton_unwraps_only_one_element():
    """A one-item list or tuple gives its item; other lengths give the sequence itself."""
    pair = [1, 2]
    assert unpack_singleton(["only"]) == "only"
    assert unpack_singleton(("only",)) == "only"
    assert unpack_singleton(pair) is pair
    assert unpack_singleton([]) == []


def test_object_list_uid_joins_the_ids():
    """object_list_uid is the ids joined by ', '; a single object counts as a list of one."""
    first, second = object(), object()
    assert object_list_uid([first, second]) == f"{abs(id(first))}, {abs(id(second))}"
    assert object_list_uid(first) == str(abs(id(first)))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, True), ([None, None], True), ((None,), True), ([], True), ([None, 0], False), (0, False)],
)
def test_is_all_none(value, expected):
    """is_all_none is True when the value, or every item of a list or tuple, is None."""
    assert is_all_none(value) is expected


@pytest.mark.parametrize(
    ("shape", "spatial_axes"),
    [((16, 128, 96, 32), (1, 2)), ((128, 96, 32), (0, 1)), ([8, 10, 5, 6, 3], (1, 2, 3))],
)
def test_transpose_shape_matches_moving_the_channel_axis(shape, spatial_axes):
    """channels_first equals the shape of an array whose last axis moved before the spatial axes."""
    expected = np.empty(tuple(shape), dtype=np.uint8)
    expected_shape = np.moveaxis(expected, -1, spatial_axes[0]).shape
    result = transpose_shape(shape, "channels_first", spatial_axes)
    assert tuple(result) == expected_shape
    assert type(result) is type(shape)
    assert transpose_shape(shape, "channels_last", spatial_axes) is shape


def test_transpose_shape_with_an_unknown_format_raises_value_error():
    """An unknown target_format raises ValueError naming it."""
    with pytest.raises(ValueError, match=r"Received: 'channels_middle'"):
        transpose_shape((1, 2, 3), "channels_middle", (0, 1))


# --- the Keras 2.2.4 module path -----------------------------------------------------------------


def test_generic_utils_offers_every_helper_as_the_same_object():
    """kutils.generic_utils re-exports the helpers of this module and the scope and serialization names."""
    from kutils import custom_objects, functions, serialization

    for name in generic_utils.__all__:
        value = getattr(generic_utils, name)
        for module in (functions, custom_objects, serialization):
            if name in module.__all__:
                assert value is getattr(module, name)
    helpers = {"has_arg", "func_dump", "func_load", "unpack_singleton", "transpose_shape"}
    assert helpers <= set(dir(generic_utils))
