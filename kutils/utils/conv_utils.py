"""The `keras.utils.conv_utils` path: `kutils.utils.conv_utils` IS the module `kutils.conv_utils`.

Importing `kutils.utils` registers `kutils.conv_utils` under this name, so this file is not run;
it shows type checkers the same names.
"""

from kutils.conv_utils import *  # noqa: F403
from kutils.conv_utils import __all__ as __all__
