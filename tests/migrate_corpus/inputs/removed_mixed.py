# corpus: --only-removed
"""With --only-removed, get_source_inputs (same in Keras 3) stays on Keras."""

import keras
from keras.utils import get_source_inputs, to_categorical, HDF5Matrix
from keras.utils.layer_utils import get_source_inputs as gsi

x = keras.utils.get_source_inputs
y = keras.utils.print_summary
