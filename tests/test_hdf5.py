"""HDF5Matrix, H5Dict and ask_to_proceed_with_overwrite on real HDF5 files."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from _hdf5_support import LAYOUTS, reference_array, run_python, write_layouts, write_unusual_layouts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kutils import H5Dict, HDF5Matrix, h5dict
from kutils.hdf5 import (
    HDF5DatasetNotFoundError,
    HDF5FormatError,
    HDF5NotADatasetError,
)
from kutils.io_utils import ask_to_proceed_with_overwrite

DATA = reference_array()


@pytest.fixture(scope="module")
def h5file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_layouts(tmp_path_factory.mktemp("hdf5") / "data.h5", DATA)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- faithful Keras 2.2.4 behaviour --------------------------------------------------------------------


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_window_properties(h5file: Path, layout: str):
    """len/shape/dtype/ndim/size describe rows start:end with the stored dtype."""
    matrix = HDF5Matrix(str(h5file), layout, start=5, end=30)
    expected = DATA[5:30].astype(LAYOUTS[layout].get("dtype", DATA.dtype))
    assert len(matrix) == 25
    assert matrix.shape == expected.shape
    assert matrix.dtype == expected.dtype
    assert matrix.ndim == expected.ndim
    assert matrix.size == expected.size
    assert np.array_equal(matrix[:], expected)


def test_end_defaults_to_dataset_length(h5file: Path):
    """end=None means the whole dataset from start on."""
    matrix = HDF5Matrix(h5file, "contiguous", start=30)
    assert len(matrix) == len(DATA) - 30
    assert np.array_equal(matrix[0], DATA[30])


def test_index_relative_to_start(h5file: Path):
    """Ints, slices and lists are relative to start (Keras 2.2.4 semantics)."""
    matrix = HDF5Matrix(h5file, "chunked", start=10, end=20)
    assert np.array_equal(matrix[0], DATA[10])
    assert np.array_equal(matrix[2:5], DATA[12:15])
    assert np.array_equal(matrix[[0, 3]], DATA[[10, 13]])
    assert np.array_equal(matrix[np.array([1, 2])], DATA[[11, 12]])


@pytest.mark.parametrize("key", [10, -11, [0, 10], np.array([3, 12])])
def test_index_past_end_raises_index_error(h5file: Path, key: object):
    """Any index outside the window raises IndexError naming the bad index."""
    matrix = HDF5Matrix(h5file, "contiguous", start=10, end=20)
    with pytest.raises(IndexError, match=r"(10|-11|12) is out of bounds for length 10"):
        matrix[key]


def test_iteration_stops_at_end(h5file: Path):
    """Iterating yields exactly the window's rows."""
    rows = list(HDF5Matrix(h5file, "compressed", start=30))
    assert np.array_equal(np.stack(rows), DATA[30:])


def test_normalizer_applied_and_reflected_in_shape_dtype(h5file: Path):
    """The normalizer runs on every retrieval; shape, dtype and ndim describe its output."""
    calls = []

    def flatten_double(block: np.ndarray) -> np.ndarray:
        calls.append(block.shape[0])
        return (block * 2).reshape(len(block), -1).astype(np.float64)

    matrix = HDF5Matrix(h5file, "chunked", start=1, end=11, normalizer=flatten_double)
    assert matrix.shape == (10, 6)
    assert matrix.dtype == np.float64
    assert matrix.ndim == 2
    assert matrix.size == 60
    assert np.array_equal(matrix[[4, 2]], (DATA[[5, 3]] * 2).reshape(2, -1))
    assert np.array_equal(matrix[3], (DATA[4] * 2).reshape(-1))
    assert calls[-2:] == [2, 1]


# -- beyond 2.2.4: numpy indexing ------------------------------------------------------------------------


def _keys(length: int) -> st.SearchStrategy[object]:
    index = st.integers(-length, length - 1)
    bound = st.none() | st.integers(-length - 3, length + 3)
    step = st.none() | st.integers(-4, 4).filter(lambda value: value != 0)
    slices = st.builds(slice, bound, bound, step)
    lists = st.lists(index, max_size=12)
    arrays = st.lists(index, min_size=1, max_size=8).map(np.array)
    grids = st.lists(index, min_size=4, max_size=4).map(lambda values: np.array(values).reshape(2, 2))
    masks = st.lists(st.booleans(), min_size=length, max_size=length).map(np.array)
    rows = index | slices | lists | arrays | grids | masks
    inner = st.integers(0, 2) | st.builds(slice, st.none() | st.integers(-3, 3), st.none()) | st.just([2, 0])
    tuples = st.tuples(rows, inner) | st.tuples(rows, st.just(Ellipsis), st.integers(0, 1))
    return rows | tuples | st.just(Ellipsis) | st.tuples(st.just(Ellipsis), st.integers(0, 1))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_indexing_equals_numpy(h5file: Path, layout: str, data: st.DataObject):
    """Any int/slice/list/array/mask/tuple index gives numpy's result (or IndexError) on the same window."""
    matrix = HDF5Matrix(h5file, layout, start=3, end=23)
    with h5py.File(h5file, "r") as file:
        window = file[layout][3:23]
    key = data.draw(_keys(len(window)))
    try:
        expected = window[key]
    except IndexError:
        with pytest.raises(IndexError):
            matrix[key]
        return
    got = matrix[key]
    assert np.shape(got) == np.shape(expected)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_negative_step_slices_reach_the_first_row(h5file: Path, layout: str):
    """Negative-step slices that run down to the dataset's row 0 return those rows, as numpy does."""
    matrix = HDF5Matrix(h5file, layout)
    expected = DATA.astype(LAYOUTS[layout].get("dtype", DATA.dtype))
    for key in (slice(None, None, -1), slice(None, None, -3), slice(5, None, -2), slice(-1, -40, -4)):
        assert np.array_equal(matrix[key], expected[key]), key


@pytest.fixture(scope="module")
def unusual_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    return write_unusual_layouts(tmp_path_factory.mktemp("unusual"), DATA)


def test_unusual_layouts_read_the_stored_values(unusual_file: tuple[Path, dict[str, np.ndarray]]):
    """User block, fill values, unallocated chunks, v4 chunk indexes, links...: every read equals h5py's."""
    path, expected = unusual_file
    with h5py.File(path, "r") as file:
        for name, values in expected.items():
            assert np.array_equal(file[name][()], values), f"fixture {name}"
            rows = [4 % len(values), 0, 0, -1, 17 % len(values)]
            keys = [rows, np.array(rows[::-1]), slice(None, None, -3), slice(2, 19, 4), -2]
            with HDF5Matrix(path, name) as matrix:
                for key in keys:
                    assert np.array_equal(matrix[key], values[key]), (name, key)
                assert np.array_equal(np.asarray(matrix), values), name
                assert matrix.dtype == values.dtype, name


def test_sees_writes_of_a_writer_in_the_same_process(tmp_path: Path):
    """While this process writes the file through h5py, HDF5Matrix returns the new rows, not stale bytes."""
    with h5py.File(tmp_path / "live.h5", "w") as writer:
        for name, chunks in (("contiguous", None), ("chunked", (4, 3, 2))):
            writer.create_dataset(name, data=DATA, chunks=chunks)
        writer.flush()
        matrices = {name: HDF5Matrix(tmp_path / "live.h5", name) for name in ("contiguous", "chunked")}
        for name, matrix in matrices.items():
            assert np.array_equal(matrix[[5, 2]], DATA[[5, 2]])
            writer[name][5] = -1
            assert np.array_equal(matrix[[5, 2]], np.stack([np.full((3, 2), -1), DATA[2]])), name
            assert np.array_equal(matrix[4:7], writer[name][4:7]), name
            matrix.close()


def test_unsorted_and_duplicate_indices(h5file: Path):
    """Indices in any order and repeated (h5py raises TypeError for both) follow numpy."""
    matrix = HDF5Matrix(h5file, "compressed")
    keys = [5, 1, 1, -1, 0]
    assert np.array_equal(matrix[keys], DATA[keys])


def test_non_integer_index_rejected(h5file: Path):
    """A float index raises IndexError naming it."""
    with pytest.raises(IndexError, match=r"1\.5"):
        HDF5Matrix(h5file, "contiguous")[[1.5]]


def test_wrong_mask_length_rejected(h5file: Path):
    """A boolean mask must have the window's length."""
    with pytest.raises(IndexError, match=r"\(3,\) does not match length 37"):
        HDF5Matrix(h5file, "contiguous")[np.array([True, False, True])]


# -- Keras 3 / numpy conversion -------------------------------------------------------------------------


def test_array_protocol(h5file: Path):
    """np.asarray reads the window; dtype converts; NumPy 2's copy=False is refused with ValueError."""
    matrix = HDF5Matrix(h5file, "chunked", start=2, end=9)
    assert np.array_equal(np.asarray(matrix), DATA[2:9])
    assert np.asarray(matrix, dtype=np.float64).dtype == np.float64
    if np.lib.NumpyVersion(np.__version__) < "2.0.0":
        # NumPy 1 (which TensorFlow 2.16 needs): copy=False means "copy if needed", __array__ never sees it.
        assert np.array_equal(np.array(matrix, copy=False), DATA[2:9])
        return
    with pytest.raises(ValueError, match="copy=False"):
        np.array(matrix, copy=False)


def _tiny_model(inputs: int, seed: int = 0):
    from kutils._keras import import_keras

    keras = import_keras()

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((inputs,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.fixture(scope="module")
def xy_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((96, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32))[:, None]
    path = tmp_path_factory.mktemp("xy") / "xy.hdf5"
    with h5py.File(path, "w") as file:
        file.create_dataset("data", data=x, chunks=(16, 4))
        file.create_dataset("labels", data=y)
    return path, x, y


def test_keras3_predict_and_evaluate_accept_hdf5matrix(xy_file: tuple[Path, np.ndarray, np.ndarray]):
    """`model.predict(HDF5Matrix('file.hdf5', 'data'))` works and equals the numpy call.

    The example of https://keras.io/ja/utils/#hdf5matrix.
    """
    path, x, y = xy_file
    model = _tiny_model(4)
    x_data = HDF5Matrix(str(path), "data")
    np.testing.assert_allclose(model.predict(x_data, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    loss = model.evaluate(x_data, HDF5Matrix(str(path), "labels"), verbose=0)
    assert loss == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


def test_keras3_fit_matches_numpy_fit(xy_file: tuple[Path, np.ndarray, np.ndarray]):
    """fit(HDF5Matrix, HDF5Matrix) trains exactly like fit on the same numpy arrays."""
    path, x, y = xy_file
    from_file = _tiny_model(4)
    from_file.fit(
        HDF5Matrix(path, "data"),
        HDF5Matrix(path, "labels"),
        epochs=2,
        batch_size=16,
        shuffle=False,
        verbose=0,
    )
    in_memory = _tiny_model(4)
    in_memory.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for got, want in zip(from_file.get_weights(), in_memory.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_keras3_fit_shuffle_batch_runs_in_memory(xy_file: tuple[Path, np.ndarray, np.ndarray]):
    """fit(HDF5Matrix, HDF5Matrix, shuffle='batch') (a Keras 2 idiom) trains without error."""
    path, _, _ = xy_file
    model = _tiny_model(4)
    history = model.fit(
        HDF5Matrix(path, "data"),
        HDF5Matrix(path, "labels"),
        shuffle="batch",
        epochs=3,
        batch_size=16,
        verbose=0,
    )
    assert history.history["loss"][-1] < history.history["loss"][0]


# -- files: read-only, lazy, per process, closable ------------------------------------------------------


def test_never_writes_the_file(h5file: Path):
    """Reading every layout leaves the file's bytes and mtime unchanged."""
    before = (_digest(h5file), h5file.stat().st_mtime_ns)
    for layout in LAYOUTS:
        with HDF5Matrix(h5file, layout, normalizer=lambda block: block + 1) as matrix:
            matrix[:]
            matrix[[3, 1, 1]]
            np.asarray(matrix)
    assert (_digest(h5file), h5file.stat().st_mtime_ns) == before


def test_close_releases_the_file_lock(tmp_path: Path):
    """While open, another process cannot open the file for writing; after close() it can."""
    path = write_layouts(tmp_path / "lock.h5", DATA)
    out = run_python(
        f"""
        import subprocess, sys
        import numpy as np
        from kutils import HDF5Matrix

        WRITER = "import h5py; h5py.File({str(path)!r}, 'r+').close()"

        def writable():
            return subprocess.run([sys.executable, "-c", WRITER], capture_output=True).returncode == 0

        with HDF5Matrix({str(path)!r}, "contiguous") as matrix:
            first = matrix[0]
            print(writable())
        print(writable())
        print(np.array_equal(matrix[0], first))
        """,
        env={"HDF5_USE_FILE_LOCKING": "TRUE"},
    )
    assert out.split() == ["False", "True", "True"], "locked while open, free after close, reopens on access"


def test_instances_are_independent(h5file: Path):
    """Closing one HDF5Matrix does not affect another on the same file (no shared class cache)."""
    first = HDF5Matrix(h5file, "chunked")
    second = HDF5Matrix(h5file, "chunked")
    first.close()
    assert np.array_equal(second[[4, 0]], DATA[[4, 0]])
    assert not hasattr(HDF5Matrix, "refs")


def test_concurrent_first_access_from_threads(h5file: Path):
    """Threads reading a closed HDF5Matrix at once all get correct rows (one lazy open, no race)."""
    from concurrent.futures import ThreadPoolExecutor

    for layout in ("contiguous", "compressed"):
        matrix = HDF5Matrix(h5file, layout)
        matrix.close()
        keys = [[index % 37, (index * 7) % 37] for index in range(64)]
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(matrix.__getitem__, keys))
        assert all(np.array_equal(got, DATA[key]) for got, key in zip(results, keys, strict=True))


def test_pickle_round_trip_reopens(h5file: Path):
    """A pickled HDF5Matrix holds no file handle and reopens the file when used."""
    matrix = HDF5Matrix(h5file, "compressed", start=4, end=14)
    matrix[0]
    payload = pickle.dumps(matrix)
    assert len(payload) < 2000
    clone = pickle.loads(payload)
    assert clone.shape == matrix.shape
    assert np.array_equal(clone[[9, 0]], DATA[[13, 4]])


def test_reopens_after_fork_and_in_spawned_process(h5file: Path):
    """A forked child and a spawned child both read correct rows from an already open HDF5Matrix."""
    out = run_python(
        f"""
        import multiprocessing as mp
        import numpy as np
        from kutils import HDF5Matrix

        def rows(matrix):
            return matrix[[7, 2, 2]].sum(), matrix._pid

        if __name__ == "__main__":
            for layout in ("contiguous", "compressed"):
                matrix = HDF5Matrix({str(h5file)!r}, layout)
                expected = matrix[[7, 2, 2]].sum()
                for method in ("fork", "spawn"):
                    with mp.get_context(method).Pool(1) as pool:
                        total, pid = pool.apply(rows, (matrix,))
                    assert total == expected and pid != matrix._pid, (layout, method, total, expected)
            print("ok")
        """
    )
    assert out.strip() == "ok"


# -- clear errors ---------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path):
    """A missing path raises FileNotFoundError naming it (and creates nothing)."""
    path = tmp_path / "nope.h5"
    with pytest.raises(FileNotFoundError, match=r"nope\.h5"):
        HDF5Matrix(path, "data")
    assert not path.exists()


def test_missing_dataset_lists_available(h5file: Path):
    """A missing dataset raises a KeyError listing the datasets in the file."""
    with pytest.raises(KeyError, match=r"'datta' is not in .*'chunked'.*'group/inner'") as info:
        HDF5Matrix(h5file, "datta")
    assert isinstance(info.value, HDF5DatasetNotFoundError)


def test_group_is_not_a_dataset(h5file: Path):
    """A group name raises a TypeError that names it and lists the datasets inside."""
    with pytest.raises(HDF5NotADatasetError, match=r"'group' .* is a Group.*'group/inner'"):
        HDF5Matrix(h5file, "group")


def test_scalar_dataset_rejected(h5file: Path):
    """A scalar dataset has no rows: TypeError naming it."""
    with pytest.raises(TypeError, match=r"'scalar'.*scalar"):
        HDF5Matrix(h5file, "scalar")


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (-1, None, "start=-1 is out of range"),
        (0, 38, "end=38 is out of range"),
        (40, None, "start=40 is out of range"),
        (20, 10, "start=20 is greater than end=10"),
    ],
)
def test_bad_window(h5file: Path, start: int, end: int | None, message: str):
    """start/end outside the dataset or start > end raise ValueError naming the value."""
    with pytest.raises(ValueError, match=message):
        HDF5Matrix(h5file, "contiguous", start=start, end=end)


def test_non_int_window(h5file: Path):
    """A non-int start raises TypeError naming it."""
    with pytest.raises(TypeError, match=r"start=1\.5"):
        HDF5Matrix(h5file, "contiguous", start=1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("datapath", "dataset", "bad"), [(None, "data", "datapath=None"), ("f.h5", 3, "dataset=3")]
)
def test_non_path_or_non_name_rejected(datapath: object, dataset: object, bad: str):
    """A datapath that is not a path or a dataset that is not a name raises TypeError naming it."""
    with pytest.raises(TypeError, match=bad):
        HDF5Matrix(datapath, dataset)  # type: ignore[arg-type]


def test_non_callable_normalizer(h5file: Path):
    """A normalizer that is not callable raises TypeError naming it."""
    with pytest.raises(TypeError, match="normalizer=255"):
        HDF5Matrix(h5file, "contiguous", normalizer=255)  # type: ignore[arg-type]


def test_normalizer_changing_rows_rejected(h5file: Path):
    """A normalizer that changes the number of rows raises ValueError, at creation or retrieval."""
    with pytest.raises(ValueError, match="must keep the number of rows"):
        HDF5Matrix(h5file, "contiguous", normalizer=lambda block: block[:1])
    matrix = HDF5Matrix(h5file, "contiguous", normalizer=lambda block: block[:2])
    with pytest.raises(ValueError, match=r"turned 5 rows .* into shape \(2, 3, 2\)"):
        matrix[0:5]


@pytest.mark.parametrize("content", [b"not an hdf5 file at all\n" * 10, None])
def test_corrupt_file(tmp_path: Path, h5file: Path, content: bytes | None):
    """Garbage or a truncated HDF5 file raises HDF5FormatError (an OSError) naming the path."""
    path = tmp_path / "broken.h5"
    path.write_bytes(content if content is not None else h5file.read_bytes()[:600])
    with pytest.raises(OSError, match=r"broken\.h5") as info:
        HDF5Matrix(path, "contiguous")
    assert isinstance(info.value, HDF5FormatError)


def test_file_open_for_writing_elsewhere(tmp_path: Path):
    """A file another process holds open for writing raises HDF5FileBusyError (an OSError) naming it."""
    path = write_layouts(tmp_path / "busy.h5", DATA)
    out = run_python(
        f"""
        import subprocess, sys
        from kutils import HDF5Matrix
        from kutils.hdf5 import HDF5FileBusyError

        WRITER = "import h5py, sys; f = h5py.File({str(path)!r}, 'a'); print('open', flush=True); input()"
        PIPE = subprocess.PIPE
        writer = subprocess.Popen([sys.executable, "-c", WRITER], stdin=PIPE, stdout=PIPE, text=True)
        assert writer.stdout.readline().strip() == "open"
        try:
            HDF5Matrix({str(path)!r}, "contiguous")
        except HDF5FileBusyError as error:
            print(isinstance(error, OSError), {path.name!r} in str(error), "another process" in str(error))
        writer.communicate("\\n", timeout=60)
        """,
        env={"HDF5_USE_FILE_LOCKING": "TRUE"},
    )
    assert out.split() == ["True", "True", "True"]


def test_directory_path(tmp_path: Path):
    """A directory path raises IsADirectoryError naming it."""
    with pytest.raises(IsADirectoryError, match=str(tmp_path.name)):
        HDF5Matrix(tmp_path, "data")


def test_repr_names_file_and_window(h5file: Path):
    """repr shows the path, dataset, window, shape and dtype."""
    text = repr(HDF5Matrix(h5file, "chunked", start=1, end=4))
    assert "'chunked'" in text
    assert "start=1, end=4" in text
    assert "(3, 3, 2)" in text


# -- H5Dict -------------------------------------------------------------------------------------------------


def test_h5dict_file_round_trip(tmp_path: Path):
    """Arrays become datasets, scalars/strings/lists attributes, missing keys groups; all read back."""
    path = tmp_path / "model.h5"
    long_names = [f"layer_{index:05d}_" + "x" * 40 for index in range(3000)]
    with H5Dict(path, mode="w") as store:
        store["kernel"] = np.arange(6.0).reshape(2, 3)
        store["name"] = "dense"
        store["names"] = ["a", "b"]
        store["many"] = long_names
        store["sub"]["bias"] = np.zeros(3)
        store.update({"epochs": 3})
    with h5py.File(path, "r") as raw:
        assert isinstance(raw["kernel"], h5py.Dataset)
        assert "many0" in raw.attrs
        assert "many1" in raw.attrs
    with h5dict(str(path), mode="r") as store:
        assert np.array_equal(store["kernel"], np.arange(6.0).reshape(2, 3))
        assert store["name"] == "dense"
        assert store["names"] == ["a", "b"]
        assert store["many"] == long_names
        assert np.array_equal(store["sub"]["bias"], np.zeros(3))
        assert store["epochs"] == 3
        assert "kernel" in store
        assert "name" in store
        assert "missing" not in store
        assert store.get("missing", "default") == "default"
        assert sorted(store) == ["kernel", "sub"]
        with pytest.raises(ValueError, match="read only"):
            store["new"] = 1
        with pytest.raises(ValueError, match="read only"):
            store["missing"]


def test_h5dict_over_dict_and_group(tmp_path: Path):
    """A dict and an h5py Group are wrapped the same way; values round-trip."""
    backing: dict[str, object] = {}
    store = H5Dict(backing)
    store["weights"] = np.ones(2)
    store["layer"]["units"] = 4
    assert np.array_equal(store["weights"], np.ones(2))
    assert store["layer"]["units"] == 4
    store.update(extra=1)
    assert store["extra"] == 1
    with h5py.File(tmp_path / "g.h5", "w") as file:
        group_store = H5Dict(file.create_group("g"))
        group_store["x"] = np.arange(3)
        assert np.array_equal(file["g/x"][()], np.arange(3))


def test_h5dict_forwards_methods_and_wraps_groups(tmp_path: Path):
    """Methods are forwarded; a group they return is an H5Dict again (2.2.4); attributes pass through."""
    with H5Dict(tmp_path / "m.h5", mode="w") as store:
        created = store.create_group("layer")
        assert isinstance(created, H5Dict)
        created["names"] = ["kernel:0"]
        assert isinstance(store.require_group("layer"), H5Dict)
        assert list(store.keys()) == ["layer"]
        assert store.filename == str(tmp_path / "m.h5")
        assert isinstance(store.attrs, h5py.AttributeManager), "2.2.4 turned every attribute into a function"
    with h5py.File(tmp_path / "m.h5", "r") as raw:
        assert raw["layer"].attrs["names"].tolist() == [b"kernel:0"]


def test_h5dict_errors(tmp_path: Path):
    """A bad path type raises TypeError; setting over a group raises KeyError naming it."""
    with pytest.raises(TypeError, match="int"):
        H5Dict(3)  # type: ignore[arg-type]
    with H5Dict(tmp_path / "e.h5", mode="w") as store:
        store["group"]["x"] = 1
        with pytest.raises(KeyError, match="'group'"):
            store["group"] = 2


# -- ask_to_proceed_with_overwrite ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "expected"), [("y\n", True), ("maybe\n N \n", False), (" Y\n", True), ("", False)]
)
def test_ask_to_proceed_with_overwrite(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], answers: str, expected: bool
):
    """y/n (any case, spaces ignored) decide; other answers re-ask; closed stdin means no."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(answers))
    assert ask_to_proceed_with_overwrite(os.path.join("some", "model.h5")) is expected
    out = capsys.readouterr().out
    assert "[WARNING] " + os.path.join("some", "model.h5") + " already exists - overwrite? [y/n]" in out
    assert ('Enter "y" (overwrite) or "n" (cancel).' in out) == answers.startswith("maybe")
    assert ("[TIP] Next time specify overwrite=True!" in out) is expected
