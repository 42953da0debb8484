"""The custom layer of `keras2_custom.h5`, for `kutils summary --custom-objects` (any Keras line)."""

from kutils._keras import import_keras

keras = import_keras()


class Scale(keras.layers.Layer):
    """Multiplies by a learned per-feature scale and a fixed factor."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        return inputs * self.scale * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
