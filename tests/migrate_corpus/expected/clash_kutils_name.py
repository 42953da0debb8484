# corpus: runnable
"""The script has its own `kutils` variable: the new import gets another name."""

import keras
import kutils as _kutils

kutils = "my own kutils"
y = _kutils.to_categorical([1])
assert kutils == "my own kutils" and y.shape == (1, 2)
