from keras.utils import (
    pad_sequences,  # a Keras 3 name: stays on Keras
    to_categorical,  # one-hot encoding
    Sequence,
)
from keras.utils import (get_file,  # downloads
                         pad_sequences as pad)
