"""Names and modules kutils lacks stay on their Keras 2 paths, each reported (Keras 3 has none of them)."""
from keras.utils import generic_utils
from keras.utils.generic_utils import Bunch, to_list
import keras.utils.np_utils as npu
import keras.utils.losses_utils
values = generic_utils.to_list(1)
bunch = generic_utils.Bunch
f(npu)
