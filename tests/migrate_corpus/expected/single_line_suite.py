import sys
if sys.version_info >= (3,): from keras.utils import pad_sequences; from kutils import normalize
