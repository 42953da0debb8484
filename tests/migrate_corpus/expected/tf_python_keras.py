# corpus: runnable
from kutils.np_utils import to_categorical
from kutils import generic_utils

assert to_categorical([0]).shape == (1, 1)
assert generic_utils.to_list((1, 2)) == [(1, 2)]
