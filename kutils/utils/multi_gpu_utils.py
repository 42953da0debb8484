"""The `keras.utils.multi_gpu_utils` path: `kutils.utils.multi_gpu_utils` IS `kutils.multi_gpu_utils`.

Importing `kutils.utils` registers `kutils.multi_gpu_utils` under this name, so this file is not run;
it shows type checkers the same names.
"""

from kutils.multi_gpu_utils import *  # noqa: F403
from kutils.multi_gpu_utils import __all__ as __all__
