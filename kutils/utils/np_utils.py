"""The `keras.utils.np_utils` path: `kutils.utils.np_utils` IS the module `kutils.np_utils`.

Importing `kutils.utils` registers `kutils.np_utils` under this name, so this file is not run;
it shows type checkers the same names.
"""

from kutils.np_utils import *  # noqa: F403
from kutils.np_utils import __all__ as __all__
