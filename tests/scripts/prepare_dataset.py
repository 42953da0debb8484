"""Downloads a sensor data set, checks it, and converts it to HDF5 for training.

A data-preparation script as Keras 2 projects kept them next to their
training code: the archive and its published MD5 are fetched with the Keras
download helpers, checked, extracted into the Keras cache, and the CSV files
become HDF5 datasets with one-hot labels. It needs no TensorFlow.
"""
# kutils-script: lines=keras3

import csv
import os
import sys

import h5py
import numpy as np
from kutils.data_utils import _hash_file, get_file, urlretrieve, validate_file  # was: from keras.utils.data_utils import _hash_file, get_file, urlretrieve, validate_file
from kutils.io_utils import HDF5Matrix  # was: from keras.utils.io_utils import HDF5Matrix
from kutils.np_utils import to_categorical  # was: from keras.utils.np_utils import to_categorical

DATA_URL = os.environ.get("DATA_URL", "https://example.org/datasets/")

# The site publishes "<md5>  <file name>" next to each archive.
md5_path, headers = urlretrieve(DATA_URL + "sensors.tar.gz.md5", "sensors.tar.gz.md5")
with open(md5_path) as f:
    expected_md5 = f.read().split()[0]
print("published md5:", expected_md5, "(%s bytes)" % headers["Content-Length"])

archive = get_file("sensors.tar.gz", origin=DATA_URL + "sensors.tar.gz", md5_hash=expected_md5, extract=True,
                   cache_subdir="sensors")
assert validate_file(archive, expected_md5)
assert _hash_file(archive, algorithm="md5") == expected_md5
print("sha256:", _hash_file(archive))

# A second call finds the file in the cache and downloads nothing.
again = get_file("sensors.tar.gz", origin=DATA_URL + "sensors.tar.gz", md5_hash=expected_md5, extract=True,
                 cache_subdir="sensors")
assert again == archive

data_dir = os.path.join(os.path.dirname(archive), "sensors")
with h5py.File("sensors.h5", "w") as out:
    for split in ("train", "test"):
        with open(os.path.join(data_dir, split + ".csv")) as f:
            rows = list(csv.reader(f))[1:]
        labels = np.array([int(r[0]) for r in rows])
        features = np.array([[float(v) for v in r[1:]] for r in rows], dtype="float32")
        out.create_dataset("x_" + split, data=features)
        out.create_dataset("y_" + split, data=to_categorical(labels, 3))
        print(split, features.shape, np.bincount(labels))

x_train = HDF5Matrix("sensors.h5", "x_train")
y_train = HDF5Matrix("sensors.h5", "y_train")
assert x_train.shape == (400, 8) and y_train.shape == (400, 3)
assert np.allclose(np.asarray(y_train[:]).sum(axis=1), 1)
assert "tensorflow" not in sys.modules, "data preparation should not need TensorFlow"
print("ok")
