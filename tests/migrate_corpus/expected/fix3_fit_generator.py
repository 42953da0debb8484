# corpus: runnable --fix-keras3
import numpy as np
import keras
from kutils import Sequence


class Data(Sequence):
    def __len__(self):
        return 2

    def __getitem__(self, index):
        return np.ones((4, 3), "float32"), np.ones((4, 1), "float32")


model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
model.compile("sgd", "mse")
model.fit(Data(), steps_per_epoch=2, epochs=1, verbose=0)
loss = model.evaluate(Data(), verbose=0)
pred = model.predict(Data(), verbose=0)
assert pred.shape == (8, 1)
