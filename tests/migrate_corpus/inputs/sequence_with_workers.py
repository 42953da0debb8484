# corpus: --fix-keras3
import keras
from keras.utils import Sequence


def train(model, data: Sequence):
    model.fit(data, epochs=2, workers=4, use_multiprocessing=True, max_queue_size=20)
    model.fit_generator(data, 100, epochs=1)  # positional steps: reported, not renamed
    model.fit_generator(data, steps_per_epoch=100, workers=2)
    return keras.utils.get_file("x.npz", "https://example.com/x.npz")
