"""The `keras.utils.generic_utils` path: `kutils.utils.generic_utils` IS the module `kutils.generic_utils`.

Importing `kutils.utils` registers `kutils.generic_utils` under this name, so this file is not run;
it shows type checkers the same names.
"""

from kutils.generic_utils import *  # noqa: F403
from kutils.generic_utils import __all__ as __all__
