"""Sequence and ArraySequence with real Keras 3 models and real HDF5 files."""

from __future__ import annotations

import math
import pickle
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from _hdf5_support import RSS_ANON_SAMPLER, run_python

import kutils
from kutils import ArraySequence, HDF5Matrix, Sequence
from kutils._keras import import_keras
from kutils.data_utils import iter_sequence_infinite

ROWS = 100


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """x[i] = [i, 2i, 3i, 4i] (so every row names itself), y[i] = i, weights[i] = i / 100."""
    x = (np.arange(ROWS, dtype=np.float32)[:, None] * np.arange(1, 5, dtype=np.float32)).astype(np.float32)
    path = tmp_path_factory.mktemp("seq") / "seq.h5"
    with h5py.File(path, "w") as file:
        file.create_dataset("x", data=x, chunks=(8, 4))
        file.create_dataset("x_gz", data=x, chunks=(8, 4), compression="gzip")
        file.create_dataset("y", data=np.arange(ROWS, dtype=np.float32)[:, None])
        file.create_dataset("w", data=np.arange(ROWS, dtype=np.float32) / 100)
    return path


def _x() -> np.ndarray:
    return (np.arange(ROWS, dtype=np.float32)[:, None] * np.arange(1, 5, dtype=np.float32)).astype(np.float32)


class CIFAR10Sequence(Sequence):
    """The example of https://keras.io/ja/utils/#sequence, Keras 2 style: no super().__init__() call."""

    def __init__(self, x_set, y_set, batch_size):
        self.x, self.y = x_set, y_set
        self.batch_size = batch_size
        self.epochs_ended = 0

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, idx):
        batch_x = self.x[idx * self.batch_size : (idx + 1) * self.batch_size]
        batch_y = self.y[idx * self.batch_size : (idx + 1) * self.batch_size]
        return np.array(batch_x), np.array(batch_y)

    def on_epoch_end(self):
        self.epochs_ended += 1


def _model(seed: int = 0):
    keras = import_keras()

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(2, activation="tanh"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(1e-4), loss="mse")
    return model


# -- Sequence ---------------------------------------------------------------------------------------------


def test_import_kutils_stays_light():
    """`import kutils` and HDF5Matrix/H5Dict/prompt access import neither Keras nor TensorFlow."""
    out = run_python(
        """
        import sys
        import kutils
        from kutils.io_utils import HDF5Matrix, H5Dict, ask_to_proceed_with_overwrite
        print(any(name in sys.modules for name in ("keras", "tensorflow")))
        """
    )
    assert out.strip() == "False"


def test_sequence_is_the_batch_source_class_of_the_active_keras():
    """kutils.Sequence subclasses PyDataset (Keras 3) or tf_keras.utils.Sequence; every 2.2.4 path has it."""
    keras = import_keras()
    expected = keras.utils.Sequence if keras.__name__ == "tf_keras" else keras.utils.PyDataset
    assert issubclass(Sequence, expected)
    assert kutils.data_utils.Sequence is Sequence
    assert kutils.Sequence is Sequence


def test_base_class_methods():
    """__getitem__/__len__ must be overridden (NotImplementedError); on_epoch_end is a no-op."""
    sequence = Sequence()
    with pytest.raises(NotImplementedError, match="__getitem__"):
        sequence[0]
    with pytest.raises(NotImplementedError, match="__len__"):
        len(sequence)
    assert sequence.on_epoch_end() is None


def test_keras2_subclass_fit_evaluate_predict_without_warnings():
    """The CIFAR10Sequence (no super().__init__) works in Keras 3 fit/evaluate/predict, no warnings.

    The example of https://keras.io/ja/utils/#sequence.
    """
    x = _x() / 100
    y = x.sum(axis=1, keepdims=True)
    sequence = CIFAR10Sequence(x, y, batch_size=16)
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = model.fit(sequence, epochs=3, verbose=0)
        loss = model.evaluate(sequence, verbose=0)
        predictions = model.predict(sequence, verbose=0)
    assert len(history.history["loss"]) == 3
    assert sequence.epochs_ended >= 3, "on_epoch_end runs after every epoch"
    # Other batch shapes sum in another order on CPUs without oneDNN: a few float32 ulps apart.
    np.testing.assert_allclose(predictions, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(model.evaluate(x, y, batch_size=16, verbose=0), rel=1e-5)


def test_iter_and_iter_sequence_infinite():
    """__iter__ yields each batch once; iter_sequence_infinite cycles through the epochs."""
    sequence = CIFAR10Sequence(_x(), np.arange(ROWS), batch_size=40)
    assert [len(batch[0]) for batch in sequence] == [40, 40, 20]
    endless = iter_sequence_infinite(sequence)
    sizes = [len(next(endless)[0]) for _ in range(7)]
    assert sizes == [40, 40, 20, 40, 40, 20, 40]


def _parallel_loading(keras, **loading) -> tuple[dict, dict]:
    """(Sequence arguments, fit/predict arguments) asking the active Keras to load batches in parallel.

    Keras 3 reads them from the Sequence (PyDataset); tf_keras, like Keras 2, from `fit`/`predict`.
    """
    return ({}, loading) if keras.__name__ == "tf_keras" else (loading, {})


def test_keyword_only_parallel_loading_with_threads():
    """Sequence(workers=2) (Keras 3) or fit(workers=2) (tf_keras) loads with threads, same predictions."""
    in_sequence, in_fit = _parallel_loading(import_keras(), workers=2, max_queue_size=4)

    class Threaded(CIFAR10Sequence):
        def __init__(self, x_set, y_set, batch_size):
            super().__init__(x_set, y_set, batch_size)
            Sequence.__init__(self, **in_sequence)

    x = _x() / 100
    threaded = Threaded(x, x[:, :1], batch_size=8)
    expected = (2, False, 4) if in_sequence else (1, False, 10)
    assert (threaded.workers, threaded.use_multiprocessing, threaded.max_queue_size) == expected
    model = _model()
    np.testing.assert_allclose(
        model.predict(threaded, verbose=0, **in_fit), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(TypeError):
        Sequence(2)  # type: ignore[misc]


# -- ArraySequence ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["numpy", "memmap", "h5py", "hdf5matrix", "hdf5matrix_gz"])
def test_array_sequence_in_order(data_file: Path, tmp_path: Path, source: str):
    """shuffle=False yields (x,) / (x, y) / (x, y, w) batches equal to the numpy slices, last one partial."""
    x = _x()
    if source == "memmap":
        memmap = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=x.dtype, shape=x.shape)
        memmap[:] = x
        memmap.flush()
        array = np.load(tmp_path / "x.npy", mmap_mode="r")
    else:
        array = {
            "numpy": x,
            "h5py": h5py.File(data_file, "r")["x"],
            "hdf5matrix": HDF5Matrix(data_file, "x"),
            "hdf5matrix_gz": HDF5Matrix(data_file, "x_gz"),
        }[source]
    y = np.arange(ROWS)
    weights = np.linspace(0, 1, ROWS)
    only_x = ArraySequence(array, batch_size=32)
    assert len(only_x) == 4
    assert [len(batch[0]) for batch in only_x] == [32, 32, 32, 4]
    assert np.array_equal(only_x[3][0], x[96:])
    batch = ArraySequence(array, y, weights, batch_size=32)[1]
    assert len(batch) == 3
    assert np.array_equal(batch[0], x[32:64])
    assert np.array_equal(batch[1], y[32:64])
    assert np.array_equal(batch[2], weights[32:64])


def _epoch_rows(sequence: ArraySequence) -> list[np.ndarray]:
    """Row ids (x[:, 0]) of each batch of one epoch; checks x and y stay aligned."""
    rows = []
    for x_batch, y_batch in sequence:
        assert np.array_equal(x_batch[:, 0], y_batch[:, 0]), "x and y rows must stay aligned"
        assert np.array_equal(x_batch[:, 1], 2 * x_batch[:, 0])
        rows.append(x_batch[:, 0].astype(int))
    return rows


@pytest.mark.parametrize("x_name", ["x", "x_gz"])
def test_shuffle_true_permutes_rows_each_epoch(data_file: Path, x_name: str):
    """shuffle=True covers every row once per epoch in a new order each epoch; x and y stay aligned."""
    sequence = ArraySequence(
        HDF5Matrix(data_file, x_name), h5py.File(data_file, "r")["y"], batch_size=16, shuffle=True, seed=1
    )
    first = np.concatenate(_epoch_rows(sequence))
    sequence.on_epoch_end()
    second = np.concatenate(_epoch_rows(sequence))
    assert sorted(first.tolist()) == list(range(ROWS)) == sorted(second.tolist())
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, np.arange(ROWS))


def test_shuffle_batch_keeps_rows_contiguous(data_file: Path):
    """shuffle='batch' permutes full batches; rows inside stay in order; the partial batch stays last."""
    sequence = ArraySequence(
        HDF5Matrix(data_file, "x"), HDF5Matrix(data_file, "y"), batch_size=16, shuffle="batch"
    )
    orders = []
    for _ in range(3):
        batches = _epoch_rows(sequence)
        for rows in batches:
            assert rows[0] % 16 == 0
            assert np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows)))
        assert batches[-1].tolist() == list(range(96, 100))
        orders.append([int(rows[0]) // 16 for rows in batches])
        sequence.on_epoch_end()
    assert all(sorted(order) == list(range(7)) for order in orders)
    assert len({tuple(order) for order in orders}) > 1


def test_seed_makes_epochs_reproducible(data_file: Path):
    """Two ArraySequences with the same seed give the same shuffled batches."""
    first = ArraySequence(HDF5Matrix(data_file, "x"), batch_size=10, shuffle=True, seed=7)
    second = ArraySequence(HDF5Matrix(data_file, "x"), batch_size=10, shuffle=True, seed=7)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, second, strict=True))


def test_multi_input_structures(data_file: Path):
    """Lists and dicts of arrays give batches with the same structure."""
    x = _x()
    sequence = ArraySequence(
        {"a": HDF5Matrix(data_file, "x"), "b": x[:, :2]},
        [np.arange(ROWS), HDF5Matrix(data_file, "y")],
        batch_size=50,
    )
    inputs, targets = sequence[1]
    assert sorted(inputs) == ["a", "b"]
    assert np.array_equal(inputs["a"], x[50:])
    assert np.array_equal(inputs["b"], x[50:, :2])
    assert isinstance(targets, list)
    assert np.array_equal(targets[0], np.arange(50, 100))


def test_fit_and_predict_match_in_memory(data_file: Path):
    """fit/predict/evaluate through ArraySequence(HDF5Matrix) equal the in-memory calls."""
    x = _x() / 100
    y = x.sum(axis=1, keepdims=True)
    scaled = HDF5Matrix(data_file, "x", normalizer=lambda block: block / 100)
    targets = HDF5Matrix(data_file, "x", normalizer=lambda block: block.sum(axis=1, keepdims=True) / 100)
    streamed, in_memory = _model(), _model()
    streamed.fit(ArraySequence(scaled, targets, batch_size=16), epochs=2, shuffle=False, verbose=0)
    in_memory.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for got, want in zip(streamed.get_weights(), in_memory.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        streamed.predict(ArraySequence(scaled, batch_size=64), verbose=0),
        in_memory.predict(x, verbose=0),
        rtol=1e-5,
        atol=1e-6,  # batches of 64 against Keras' 32: another summation order, a few float32 ulps
    )
    assert streamed.evaluate(ArraySequence(scaled, targets, batch_size=30), verbose=0) == pytest.approx(
        in_memory.evaluate(x, y, verbose=0), rel=1e-5
    )
    history = streamed.fit(
        ArraySequence(scaled, targets, batch_size=16, shuffle="batch"), epochs=2, verbose=0
    )
    assert len(history.history["loss"]) == 2


def test_pickles_h5py_datasets_by_path(data_file: Path):
    """An ArraySequence over an open h5py.Dataset pickles small and reads the same batches after."""
    sequence = ArraySequence(
        h5py.File(data_file, "r")["x"], np.arange(ROWS), batch_size=32, shuffle=True, seed=3
    )
    payload = pickle.dumps(sequence)
    assert len(payload) < 10_000
    clone = pickle.loads(payload)
    assert np.array_equal(clone[2][0], sequence[2][0])
    assert np.array_equal(clone[2][1], sequence[2][1])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"y": np.arange(5)}, ValueError, r"same number of rows.*'y': \[5\]"),
        ({"shuffle": "rows"}, ValueError, r"shuffle='rows'"),
        ({"batch_size": 0}, ValueError, r"batch_size=0"),
        ({"y": [np.arange(ROWS), "labels"]}, TypeError, r"y must be array-likes.*str"),
    ],
)
def test_array_sequence_errors(kwargs: dict[str, object], error: type[Exception], message: str):
    """Mismatched lengths, bad shuffle/batch_size and non-arrays raise errors naming the bad value."""
    with pytest.raises(error, match=message):
        ArraySequence(_x(), **kwargs)


def test_array_sequence_index_out_of_range():
    """A batch index outside range(len) raises IndexError naming it."""
    with pytest.raises(IndexError, match="batch index 4 is out of range for 4 batches"):
        ArraySequence(_x(), batch_size=32)[4]


@pytest.mark.slow
def test_out_of_core_memory_is_bounded(tmp_path: Path):
    """predict and fit(shuffle='batch') over a 512 MiB HDF5 dataset grow anonymous memory by <= 256 MiB."""
    out = run_python(
        RSS_ANON_SAMPLER
        + f"""
import h5py, numpy as np, keras
from kutils import ArraySequence, HDF5Matrix

path = {str(tmp_path / "big.h5")!r}
rows, cols = 262144, 512  # 512 MiB of float32
with h5py.File(path, "w") as file:
    data = file.create_dataset("x", shape=(rows, cols), dtype="float32", chunks=(1024, cols))
    for start in range(0, rows, 16384):
        block = np.arange(start, start + 16384, dtype=np.float32)[:, None] / rows + np.zeros(cols, np.float32)
        data[start : start + 16384] = block
    file.create_dataset("y", data=np.arange(rows, dtype=np.float32)[:, None] / rows)
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((cols,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.predict(np.zeros((8, cols), np.float32), verbose=0)
model.fit(np.zeros((8, cols), np.float32), np.zeros((8, 1), np.float32), verbose=0)
x, y = HDF5Matrix(path, "x"), HDF5Matrix(path, "y")
with PeakRssAnon() as predicting:
    streamed = model.predict(ArraySequence(x, batch_size=4096), verbose=0)
with PeakRssAnon() as fitting:
    model.fit(ArraySequence(x, y, batch_size=4096, shuffle="batch"), epochs=1, verbose=0)
check = model.predict(ArraySequence(x, batch_size=4096), verbose=0)
sample = np.arange(0, rows, 97)
in_memory = model.predict(x[sample], verbose=0)
difference = float(np.abs(check[sample] - in_memory).max())
print(predicting.growth >> 20, fitting.growth >> 20, streamed.shape[0], difference)
""",
        timeout=300,
    )
    predict_mib, fit_mib, predicted_rows, max_difference = out.split()
    assert int(predicted_rows) == 262144
    assert int(predict_mib) <= 256, f"predict grew RssAnon by {predict_mib} MiB"
    assert int(fit_mib) <= 256, f"fit grew RssAnon by {fit_mib} MiB"
    assert float(max_difference) < 1e-4


@pytest.mark.slow
def test_process_workers_read_hdf5(data_file: Path):
    """ArraySequence(HDF5Matrix) with 2 worker processes in fit/predict matches numpy, on each Keras line.

    Keras 3 takes workers=/use_multiprocessing= on the Sequence, tf_keras (as Keras 2) in fit/predict.
    """
    out = run_python(
        f"""
        import numpy as np
        from kutils import ArraySequence, HDF5Matrix
        from kutils._keras import import_keras

        if __name__ == "__main__":
            keras = import_keras()
            keras.utils.set_random_seed(0)
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
            model.compile(optimizer="sgd", loss="mse")
            x = HDF5Matrix({str(data_file)!r}, "x", normalizer=lambda block: block / 100)
            y = HDF5Matrix({str(data_file)!r}, "y")
            loading = dict(workers=2, use_multiprocessing=True)
            in_sequence, in_fit = ({{}}, loading) if keras.__name__ == "tf_keras" else (loading, {{}})
            sequence = ArraySequence(x, y, batch_size=16, shuffle=True, **in_sequence)
            model.fit(sequence, epochs=2, verbose=0, **in_fit)
            streamed = model.predict(ArraySequence(x, batch_size=16, **in_sequence), verbose=0, **in_fit)
            print(float(np.abs(streamed - model.predict(np.asarray(x), verbose=0)).max()))
        """,
        timeout=240,
    )
    assert float(out.split()[-1]) < 1e-5
