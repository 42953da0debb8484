"""The `keras.utils.vis_utils` path: `kutils.utils.vis_utils` IS the module `kutils.vis_utils`.

Importing `kutils.utils` registers `kutils.vis_utils` under this name, so this file is not run;
it shows type checkers the same names.
"""

from kutils.vis_utils import *  # noqa: F403
from kutils.vis_utils import __all__ as __all__
