"""Keras 2.2.4 function and list helpers: `has_arg`, `getargspec`, `func_dump`, `func_load`, and friends.

Security: `func_load` rebuilds a function from marshalled bytecode and so runs
whatever code the data holds when the function is called. Only load what you
dumped yourself or fully trust; never data from an untrusted file or network.
"""

from __future__ import annotations

import binascii
import builtins
import codecs
import inspect
import marshal
import types
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from .array_ops import to_list
from .errors import NotAFunctionError

__all__ = [
    "ArgSpec",
    "NotAFunctionError",
    "func_dump",
    "func_load",
    "getargspec",
    "has_arg",
    "is_all_none",
    "object_list_uid",
    "transpose_shape",
    "unpack_singleton",
]

DumpedFunction = tuple[str, tuple[Any, ...] | None, tuple[Any, ...] | None]


class ArgSpec(NamedTuple):
    """The Python 2 style argument spec that Keras 2.2.4's `getargspec` returned."""

    args: list[str]
    varargs: str | None
    keywords: str | None
    defaults: tuple[Any, ...] | None


def has_arg(fn: Callable[..., Any], name: str, accept_all: bool = False) -> bool:
    """Checks if a callable accepts a given keyword argument.

    Args:
        fn: Callable to inspect.
        name: Check if `fn` can be called with `name` as a keyword argument
            (a positional-only parameter of that name does not count).
        accept_all: What to return if there is no parameter called `name`
            but the function accepts a `**kwargs` argument.

    Returns:
        Whether `fn` accepts a `name` keyword argument.

    Raises:
        TypeError: If `fn` is not callable.
        ValueError: If Python cannot read the signature of `fn` (some built-ins).

    Example:

    ```python
    >>> has_arg(lambda x, *, scale=1: x, 'scale'), has_arg(dict, 'foo', accept_all=True)
    (True, True)
    ```
    """
    if not callable(fn):
        raise TypeError(f"has_arg() needs a callable `fn`, got {type(fn).__name__}: {fn!r}")
    parameters = inspect.signature(fn).parameters
    parameter = parameters.get(name)
    if parameter is None:
        return accept_all and any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    return parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def getargspec(fn: Callable[..., Any]) -> ArgSpec:
    """Returns the argument spec of `fn` in the Keras 2.2.4 (Python 2) shape.

    Args:
        fn: The function to inspect.

    Returns:
        An `ArgSpec(args, varargs, keywords, defaults)`; `keywords` is the name
        of the `**kwargs` parameter, or None.

    Raises:
        TypeError: If `fn` is not a callable Python can inspect.
    """
    spec = inspect.getfullargspec(fn)
    return ArgSpec(args=spec.args, varargs=spec.varargs, keywords=spec.varkw, defaults=spec.defaults)


def func_dump(func: Callable[..., Any]) -> DumpedFunction:
    """Serializes a user defined function, as Keras 2.2.4 did for `Lambda` layers.

    The bytecode is marshalled and base64-encoded into ASCII text, so the
    result fits in JSON. Marshalled bytecode is specific to the Python version
    that made it: load it with the same Python version.

    Args:
        func: The function to serialize.

    Returns:
        A tuple `(code, defaults, closure)`: the base64 text of the bytecode,
        the default argument values (or None) and the values of the closure
        cells (or None).

    Raises:
        NotAFunctionError: (a `TypeError` and `AttributeError`) If `func` is not
            a Python function (e.g. a built-in or a class).

    Example:

    ```python
    >>> code, defaults, closure = func_dump(lambda x, k=2: x * k)
    >>> func_load(code, defaults)(5)
    10
    ```
    """
    if not isinstance(func, types.FunctionType):
        raise NotAFunctionError(
            f"func_dump() needs a Python function (def or lambda), got {type(func).__name__}: {func!r}"
        )
    code = codecs.encode(marshal.dumps(func.__code__), "base64").decode("ascii")
    closure = tuple(cell.cell_contents for cell in func.__closure__) if func.__closure__ else None
    return code, func.__defaults__, closure


def func_load(
    code: str | Sequence[Any],
    defaults: Sequence[Any] | None = None,
    closure: Sequence[Any] | None = None,
    globs: dict[str, Any] | None = None,
) -> types.FunctionType:
    """Deserializes a user defined function made by `func_dump`.

    Security: this runs the loaded bytecode when the function is called. Never
    load data you did not produce yourself or fully trust.

    Args:
        code: The code text from `func_dump`, or the whole `(code, defaults,
            closure)` tuple (or list, as read back from JSON). Text written
            by Keras before 2.1.2 (`raw_unicode_escape` marshal text) is read
            too.
        defaults: The default argument values (a list is accepted).
        closure: The closure cell values.
        globs: The globals of the function. By default a fresh namespace
            holding the built-ins and `np` (numpy), like the module globals
            Keras 2.2.4 lent it, but without exposing kutils internals.

    Returns:
        The function.

    Raises:
        ValueError: If `code` is not valid dumped bytecode for this Python
            version, or the closure does not match the code's free variables.
    """
    if isinstance(code, (tuple, list)):
        code, defaults, closure = code
    if not isinstance(code, str):
        raise ValueError(f"func_load() needs the code text from func_dump(), got {type(code).__name__}")
    function_code = _unmarshal_code(code)
    cells = tuple(types.CellType(value) for value in closure) if closure is not None else None
    if len(cells or ()) != len(function_code.co_freevars):
        raise ValueError(
            f"func_load(): the code of {function_code.co_name!r} needs {len(function_code.co_freevars)} "
            f"closure value(s) {function_code.co_freevars}, got {len(cells or ())}"
        )
    namespace = globs if globs is not None else {"__builtins__": builtins, "np": np}
    return types.FunctionType(
        function_code,
        namespace,
        name=function_code.co_name,
        argdefs=tuple(defaults) if defaults is not None else None,
        closure=cells,
    )


def unpack_singleton(x: Sequence[Any]) -> Any:
    """Gets the first element if the list or tuple has exactly one, else returns it unchanged.

    Args:
        x: A list or tuple.

    Returns:
        `x[0]` if `len(x) == 1`, else `x`.
    """
    return x[0] if len(x) == 1 else x


def object_list_uid(object_list: Any) -> str:
    """Returns a string that identifies the given objects by their `id()`, joined by `', '`.

    Args:
        object_list: An object or a list of objects.

    Returns:
        The ids, comma separated (a single object is treated as a list of one).
    """
    return ", ".join(str(abs(id(item))) for item in to_list(object_list))


def is_all_none(iterable_or_element: Any) -> bool:
    """Tells whether a value, or every item of a list or tuple, is None.

    Args:
        iterable_or_element: A list, a tuple or a single value.

    Returns:
        True if all of them are None (True for an empty list).
    """
    items: Iterable[Any] = to_list(iterable_or_element, allow_tuple=True)
    return all(item is None for item in items)


def transpose_shape(shape: Sequence[Any], target_format: str, spatial_axes: Sequence[int]) -> Sequence[Any]:
    """Converts a `'channels_last'` shape tuple or list to `target_format`.

    Args:
        shape: A tuple or list in `'channels_last'` order.
        target_format: `'channels_first'` or `'channels_last'`.
        spatial_axes: The indexes of the spatial axes in `shape`, e.g. `(1, 2)`
            for `(batch, rows, cols, channels)`.

    Returns:
        The shape in `target_format` order, of the same type (tuple or list).

    Raises:
        ValueError: If `target_format` is neither of the two formats.

    Example:

    ```python
    >>> transpose_shape((16, 128, 128, 32), 'channels_first', spatial_axes=(1, 2))
    (16, 32, 128, 128)
    ```
    """
    if target_format == "channels_last":
        return shape
    if target_format != "channels_first":
        raise ValueError(
            "The `data_format` argument must be one of 'channels_first', 'channels_last'. "
            f"Received: {target_format!r}"
        )
    new_shape = (*shape[: spatial_axes[0]], shape[-1], *(shape[axis] for axis in spatial_axes))
    return list(new_shape) if isinstance(shape, list) else new_shape


def _unmarshal_code(text: str) -> types.CodeType:
    decoders: tuple[tuple[str, Callable[[str], bytes]], ...] = (
        ("as base64 text", lambda text: codecs.decode(text.encode("ascii"), "base64")),
        ("as Keras < 2.1.2 raw_unicode_escape text", lambda text: text.encode("raw_unicode_escape")),
    )
    failures = []
    for label, decode in decoders:
        try:
            code = marshal.loads(decode(text))
        except (UnicodeEncodeError, binascii.Error, ValueError, EOFError, TypeError) as error:
            failures.append(f"{label}: {error}")
            continue
        if isinstance(code, types.CodeType):
            return code
        failures.append(f"{label}: it holds a {type(code).__name__}, not function code")
    raise ValueError(
        f"func_load() could not read the function code ({'; '.join(failures)}); it must be func_dump() "
        "output made by this same Python version"
    )
