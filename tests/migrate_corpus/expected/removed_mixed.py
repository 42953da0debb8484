# corpus: --only-removed
"""With --only-removed, get_source_inputs (same in Keras 3) stays on Keras."""

import keras
from keras.utils import get_source_inputs
from kutils import to_categorical, HDF5Matrix
from kutils.layer_utils import get_source_inputs as gsi
import kutils

x = keras.utils.get_source_inputs
y = kutils.print_summary
