"""The `keras.utils.io_utils` path: `kutils.utils.io_utils` IS the module `kutils.io_utils`.

Importing `kutils.utils` registers `kutils.io_utils` under this name, so this file is not run;
it shows type checkers the same names.
"""

from kutils.io_utils import *  # noqa: F403
from kutils.io_utils import __all__ as __all__
