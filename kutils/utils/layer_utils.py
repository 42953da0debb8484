"""The `keras.utils.layer_utils` path: `kutils.utils.layer_utils` IS the module `kutils.layer_utils`.

Importing `kutils.utils` registers `kutils.layer_utils` under this name, so this file is not run;
it shows type checkers the same names.
"""

from kutils.layer_utils import *  # noqa: F403
from kutils.layer_utils import __all__ as __all__
