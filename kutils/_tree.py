"""Nested structures (lists, tuples, dicts of arrays) through the active Keras line's own tools.

Keras 3 has `keras.tree`; tf_keras has none, and TensorFlow's `tf.nest` does
the same job there. Both treat numpy arrays, `HDF5Matrix` and h5py datasets
as leaves.
"""

from __future__ import annotations

from types import ModuleType

from ._keras import import_keras, import_tensorflow

__all__ = ["tree"]


def tree() -> ModuleType:
    """Returns `keras.tree` (Keras 3), or `tf.nest` on a Keras line without it.

    Returns:
        A module with `map_structure(fn, structure)` and `flatten(structure)`.
    """
    keras = import_keras("Nested input structures")
    found = getattr(keras, "tree", None)
    return found if isinstance(found, ModuleType) else import_tensorflow("Nested input structures").nest
