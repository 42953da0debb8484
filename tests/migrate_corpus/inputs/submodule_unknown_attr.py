"""generic_utils.Bunch is no kutils name: the import stays and is reported; the rest moves."""

from keras.utils import generic_utils

values = generic_utils.to_list(1)
bunch = generic_utils.Bunch
