"""No Keras here: the file must come out identical."""

import numpy as np


def utils(x):
    return np.asarray(x).sum()


to_categorical = utils
