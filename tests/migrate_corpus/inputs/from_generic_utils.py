# corpus: runnable
from keras.utils.generic_utils import CustomObjectScope, get_custom_objects, to_list


def swish(x):
    return x


with CustomObjectScope({"swish": swish}, {"other": len}):
    assert get_custom_objects()["swish"] is swish
assert to_list(3) == [3]
