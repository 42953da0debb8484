"""Test helpers for custom layers, as Keras 2's `keras.utils.test_utils` gave them.

`layer_test` puts a layer through what a layer must survive in Keras: built
from its keyword arguments, weights read and written, called on a symbolic
input in a functional model and as the first layer of a `Sequential` model,
checked against its declared output shape and dtype (and an expected output),
rebuilt from its config and from its model's config, and trained for a batch
when it behaves differently in training. It runs on the active Keras line
(Keras 3, or tf_keras under `TF_USE_LEGACY_KERAS=1`), so a custom-layer test
suite written for Keras 2.2.4 runs with only its import line changed.

Differences from Keras 2.2.4 (see `docs/test_utils.md`):
- `kwargs` is copied, not modified (2.2.4 wrote `weights` into the caller's dict).
- Failed checks raise `LayerTestError` (an `AssertionError`) saying what
  differed, instead of a bare `assert`.
- Config round trips run inside a custom-object scope holding `layer_cls`, so
  a custom layer needs no registration to be tested.
- A layer that leaves `compute_output_shape` to Keras 3 is checked against the
  shape Keras infers symbolically.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from .errors import LayerTestError
from .functions import has_arg

__all__ = ["get_test_data", "keras_test", "layer_test"]

_F = TypeVar("_F", bound=Callable[..., Any])
# Relative tolerance of output comparisons, as in Keras 2.2.4.
_RTOL = 1e-3


def get_test_data(
    num_train: int = 1000,
    num_test: int = 500,
    input_shape: tuple[int, ...] = (10,),
    output_shape: tuple[int, ...] = (2,),
    classification: bool = True,
    num_classes: int = 2,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Makes a small random data set to train a model on.

    Draws from NumPy's global random state, so `np.random.seed` makes it
    reproducible.

    Args:
        num_train: Number of training samples.
        num_test: Number of test samples.
        input_shape: Shape of one input sample.
        output_shape: Shape of one target sample (regression only).
        classification: True gives integer labels in `[0, num_classes)` of
            shape `(n,)`, with each input drawn around its label's value;
            False gives float32 targets of shape `(n,) + output_shape` drawn
            around the same random centre as their input.
        num_classes: Number of classes (classification only).

    Returns:
        `(x_train, y_train), (x_test, y_test)`; inputs are float32.

    Example:

    ```python
    (x_train, y_train), (x_test, y_test) = get_test_data(num_train=200, num_test=50, num_classes=3)
    ```
    """
    samples = num_train + num_test
    x_shape = (samples, *input_shape)
    if classification:
        y = np.random.randint(0, num_classes, size=(samples,))
        x = np.random.normal(loc=y.reshape((samples,) + (1,) * len(input_shape)), scale=0.7, size=x_shape)
        x = x.astype(np.float32)
    else:
        centres = np.random.random((samples,))
        x = np.zeros(x_shape, dtype=np.float32)
        y = np.zeros((samples, *output_shape), dtype=np.float32)
        for i, centre in enumerate(centres):  # input then target of each sample, like Keras 2.2.4
            x[i] = np.random.normal(loc=centre, scale=0.7, size=input_shape)
            y[i] = np.random.normal(loc=centre, scale=0.7, size=output_shape)
    return (x[:num_train], y[:num_train]), (x[num_train:], y[num_train:])


def layer_test(
    layer_cls: type[Any],
    kwargs: Mapping[str, Any] | None = None,
    input_shape: Sequence[int | None] | None = None,
    input_dtype: Any = None,
    input_data: np.ndarray | None = None,
    expected_output: np.ndarray | None = None,
    expected_output_dtype: Any = None,
    fixed_batch_size: bool = False,
) -> np.ndarray:
    """Tests a layer with one input and one output in every way Keras uses layers.

    Builds `layer_cls(**kwargs)` and checks, on the active Keras line:
    `get_weights`/`set_weights`; in a functional model and as the first layer
    of a `Sequential` model: the output dtype and shape against
    `compute_output_shape`, `expected_output`, the model's config round trip
    (same outputs with the same weights), and one `train_on_batch` when the
    layer's `call` takes a `training` argument; and the layer's own config
    round trip.

    Args:
        layer_cls: The layer class.
        kwargs: Keyword arguments of `layer_cls`; not modified.
        input_shape: Input shape with the batch axis; `None` entries get a
            random size from 1 to 3 in the generated data. Taken from
            `input_data` when that is given.
        input_dtype: The input dtype; default: Keras' `floatx()`, or the
            dtype of `input_data`.
        input_data: The input array; default: uniform random in [0, 10).
        expected_output: If given, the output must match it (relative
            tolerance 1e-3).
        expected_output_dtype: The expected output dtype; default: the input
            dtype.
        fixed_batch_size: Whether the model input fixes the batch size to
            `input_shape[0]`.

    Returns:
        The layer's output on the input data in the functional model (a NumPy
        array), for further checks.

    Raises:
        LayerTestError: (an `AssertionError`) if a check fails, or if neither
            `input_shape` nor `input_data` is given.

    Example:

    ```python
    layer_test(keras.layers.Dense, kwargs={"units": 3}, input_shape=(2, 4))
    ```
    """
    from ._keras import import_keras

    keras = import_keras("layer_test")
    kwargs = dict(kwargs or {})
    if input_data is None:
        if not input_shape:
            raise LayerTestError("layer_test needs input_shape (with the batch axis) or input_data.")
        input_dtype = input_dtype or keras.backend.floatx()
        data_shape = [np.random.randint(1, 4) if size is None else size for size in input_shape]
        input_data = (10 * np.random.random(data_shape)).astype(input_dtype)
    else:
        input_data = np.asarray(input_data)
        input_shape = input_data.shape if input_shape is None else input_shape
        input_dtype = input_data.dtype if input_dtype is None else input_dtype
    input_shape = tuple(input_shape)
    dtype = _dtype_name(input_dtype)
    expected_dtype = dtype if expected_output_dtype is None else _dtype_name(expected_output_dtype)
    check = _Checker(keras, layer_cls, input_data, expected_output)

    layer = layer_cls(**kwargs)
    weights = layer.get_weights()
    layer.set_weights(weights)
    if weights and has_arg(layer_cls.__init__, "weights"):  # Keras 2 layers took initial weights
        layer = layer_cls(**{**kwargs, "weights": weights})
    declared_shape = _declared_output_shape(layer, input_shape)

    inputs = _input(keras, input_shape, dtype, fixed_batch_size)
    outputs = layer(inputs)
    if _dtype_name(outputs.dtype) != expected_dtype:
        raise LayerTestError(
            f"{layer_cls.__name__} outputs dtype {_dtype_name(outputs.dtype)} on {dtype} input; "
            f"expected {expected_dtype}."
        )
    shapes = [declared_shape, tuple(outputs.shape)]
    actual_output = check.in_model(keras.Model(inputs, outputs), layer, shapes, "functional model")

    with check.scope():
        rebuilt = layer.__class__.from_config(layer.get_config())
    sequential = keras.Sequential([_input(keras, input_shape, dtype, fixed_batch_size), rebuilt])
    weight_shapes = [tuple(w.shape) for w in layer.get_weights()]
    if [tuple(w.shape) for w in rebuilt.get_weights()] != weight_shapes:
        raise LayerTestError(
            f"{layer_cls.__name__}.from_config(layer.get_config()) builds a layer with weights of shapes "
            f"{[tuple(w.shape) for w in rebuilt.get_weights()]} instead of {weight_shapes}: does "
            "get_config return every __init__ argument?"
        )
    check.in_model(sequential, rebuilt, shapes, "Sequential model")
    return actual_output


def keras_test(func: _F) -> _F:
    """Decorates a test function to clear the Keras session after it runs.

    Keras 2.1-2.2.2 test suites decorate their tests with it; it frees the
    graph and layer-name counters a test leaves behind, also when the test
    fails.

    Args:
        func: The test function.

    Returns:
        The wrapped test function.

    Example:

    ```python
    @keras_test
    def test_my_layer():
        layer_test(MyLayer, kwargs={"units": 2}, input_shape=(3, 4))
    ```
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        finally:
            from ._keras import import_keras

            import_keras("keras_test").backend.clear_session()

    return wrapper  # type: ignore[return-value]


class _Checker:
    """The checks made on each model that holds the layer under test."""

    def __init__(self, keras: Any, layer_cls: type, input_data: np.ndarray, expected: Any) -> None:
        self.keras = keras
        self.layer_cls = layer_cls
        self.input_data = input_data
        self.expected = expected

    def scope(self) -> Any:
        """A scope in which deserialization finds the layer class by its name."""
        return self.keras.utils.custom_object_scope({self.layer_cls.__name__: self.layer_cls})

    def in_model(
        self, model: Any, layer: Any, shapes: list[tuple[Any, ...] | None], where: str
    ) -> np.ndarray:
        name = f"{self.layer_cls.__name__} in a {where}"
        output = np.asarray(model.predict(self.input_data, verbose=0))
        for shape in shapes:
            if shape is not None and not _shape_matches(shape, output.shape):
                raise LayerTestError(f"{name} outputs shape {output.shape}; its declared shape is {shape}.")
        if self.expected is not None:
            _assert_close(output, np.asarray(self.expected), f"{name}: output differs from expected_output")
        with self.scope():
            recovered = model.__class__.from_config(model.get_config())
        if model.weights:
            try:
                recovered.set_weights(model.get_weights())
            except ValueError as error:
                raise LayerTestError(
                    f"{name}: the model rebuilt from its config does not take the model's weights "
                    f"({error}); does get_config return every __init__ argument?"
                ) from None
            again = np.asarray(recovered.predict(self.input_data, verbose=0))
            _assert_close(again, output, f"{name}: the model rebuilt from its config gives other outputs")
        if has_arg(layer.call, "training"):
            model.compile("rmsprop", "mse")
            model.train_on_batch(self.input_data, output)
        return output


def _input(keras: Any, input_shape: tuple[Any, ...], dtype: str, fixed_batch_size: bool) -> Any:
    if fixed_batch_size:
        return keras.Input(batch_shape=input_shape, dtype=dtype)
    return keras.Input(shape=input_shape[1:], dtype=dtype)


def _declared_output_shape(layer: Any, input_shape: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """`layer.compute_output_shape(input_shape)`, or None where Keras 3 infers it instead."""
    try:
        shape = layer.compute_output_shape(input_shape)
    except NotImplementedError:
        return None
    return tuple(shape.as_list() if hasattr(shape, "as_list") else shape)


def _shape_matches(declared: tuple[Any, ...], actual: tuple[int, ...]) -> bool:
    return len(declared) == len(actual) and all(
        d is None or d == a for d, a in zip(declared, actual, strict=True)
    )


def _dtype_name(dtype: Any) -> str:
    """'float32' for 'float32', np.float32, np.dtype('float32') and tf.float32 alike."""
    if isinstance(dtype, str):
        return dtype
    name = getattr(dtype, "name", None)
    return name if isinstance(name, str) else np.dtype(dtype).name


def _assert_close(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    try:
        np.testing.assert_allclose(actual, expected, rtol=_RTOL)
    except AssertionError as error:
        raise LayerTestError(f"{what}.{error}") from None
