"""The `keras.utils.data_utils` path: `kutils.utils.data_utils` IS the module `kutils.data_utils`.

Importing `kutils.utils` registers `kutils.data_utils` under this name, so this file is not run;
it shows type checkers the same names.
"""

from kutils.data_utils import *  # noqa: F403
from kutils.data_utils import __all__ as __all__
