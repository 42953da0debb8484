import sys
if sys.version_info >= (3,): from keras.utils import normalize, pad_sequences
