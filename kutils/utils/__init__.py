"""The Keras 2.2.4 `keras.utils` package path: `from kutils.utils import np_utils` works as it did.

`kutils.utils` offers the names `keras.utils` exported (`kutils.utils.to_categorical`, ...)
and its submodules, so that `kutils.utils.conv_utils`, `import kutils.utils.np_utils` and
`from kutils.utils.generic_utils import Progbar` work like their `keras.utils` originals.
Each submodule path is the flat kutils module of that name (`kutils.utils.np_utils is
kutils.np_utils`), registered in `sys.modules` when this package is imported; those alias
modules are light, so importing this loads no TensorFlow. The files next to this one tell
type checkers the same (they are not run). The names are those of `kutils`, listed
once there (see `kutils._lazy`).
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .. import *  # noqa: F403 - the names of kutils.__all__
    from . import conv_utils as conv_utils
    from . import data_utils as data_utils
    from . import generic_utils as generic_utils
    from . import io_utils as io_utils
    from . import layer_utils as layer_utils
    from . import multi_gpu_utils as multi_gpu_utils
    from . import np_utils as np_utils
    from . import test_utils as test_utils
    from . import vis_utils as vis_utils

if not TYPE_CHECKING:
    import importlib
    import sys

    from .._lazy import lazy_exports as _lazy_exports
    from .._lazy import type_checking_imports as _type_checking_imports

    __all__ = sys.modules["kutils"].__all__  # the names of kutils, listed once in kutils/__init__.py
    __getattr__, __dir__ = _lazy_exports(__name__)

    for _name, (_source, _attribute) in _type_checking_imports(__name__).items():
        if _attribute is None:  # a submodule path: kutils.utils.np_utils is kutils.np_utils
            _module = importlib.import_module(f"kutils.{_name}")
            sys.modules[f"{__name__}.{_name}"] = _module
            globals()[_name] = _module
    del _name, _source, _attribute, _module, TYPE_CHECKING
