# corpus: runnable
"""A parameter named `utils` shadows the module: its uses are not Keras."""

import kutils as utils


class Helpers:
    @staticmethod
    def to_categorical(labels):
        return "local"


def run(utils):
    return utils.to_categorical([0])


assert run(Helpers) == "local"
assert utils.to_categorical([0]).shape == (1, 1)
