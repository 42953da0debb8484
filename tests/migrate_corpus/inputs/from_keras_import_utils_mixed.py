# corpus: runnable
"""`utils` is also used for a name kutils does not provide: the import stays."""

from keras import layers, utils

y = utils.to_categorical([1, 0])
padded = utils.pad_sequences([[1, 2], [3]], maxlen=2)
assert y.shape == (2, 2) and padded.shape == (2, 2)
dense = layers.Dense(1)
