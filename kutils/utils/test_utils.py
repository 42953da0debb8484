"""The `keras.utils.test_utils` path: `kutils.utils.test_utils` IS the module `kutils.test_utils`.

Importing `kutils.utils` registers `kutils.test_utils` under this name, so this file is not run;
it shows type checkers the same names.
"""

from kutils.test_utils import *  # noqa: F403
from kutils.test_utils import __all__ as __all__
