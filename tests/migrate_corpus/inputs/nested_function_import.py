# corpus: runnable
def encode(labels):
    from keras.utils import to_categorical

    return to_categorical(labels)


def encode_again(labels):
    import keras.utils as ku

    return ku.to_categorical(labels)


assert encode([0, 1]).shape == encode_again([0, 1]).shape == (2, 2)
