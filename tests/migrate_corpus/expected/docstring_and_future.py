"""A module whose only imports live inside a function."""

from __future__ import annotations
import kutils


def main():
    import tensorflow as tf

    return kutils.to_categorical([0, 1])
