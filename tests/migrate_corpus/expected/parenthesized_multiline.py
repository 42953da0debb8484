from keras.utils import (
    pad_sequences,  # a Keras 3 name: stays on Keras
)
from kutils import (
    to_categorical,  # one-hot encoding
    Sequence,
)
from keras.utils import (pad_sequences as pad)
from kutils import (get_file  # downloads
)
