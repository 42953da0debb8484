# corpus: runnable
import os
import tempfile

import h5py
import numpy as np
from kutils.io_utils import HDF5Matrix

folder = tempfile.mkdtemp()
path = os.path.join(folder, "data.h5")
with h5py.File(path, "w") as f:
    f["x"] = np.arange(20).reshape(10, 2)
x = HDF5Matrix(path, "x", start=2, end=6)
assert x.shape == (4, 2) and x[0].tolist() == [4, 5]
