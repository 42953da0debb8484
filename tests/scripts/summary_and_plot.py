"""Describes a two-branch functional model: summary tables and Graphviz drawings.

Keras 2 projects printed `print_summary` tables into their logs (often with
their own column layout) and saved `plot_model` drawings next to trained
models.
"""
# kutils-script: lines=keras3,tf_keras

import io
import os
from contextlib import redirect_stdout

from tensorflow.keras.layers import Concatenate, Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from tensorflow.keras.models import Model
from kutils import model_to_dot, plot_model, print_summary  # was: from keras.utils import model_to_dot, plot_model, print_summary

image = Input(shape=(16, 16, 3), name="image")
meta = Input(shape=(5,), name="meta")
x = Conv2D(8, (3, 3), activation="relu", name="conv")(image)
x = MaxPooling2D(name="pool")(x)
x = Flatten(name="flatten")(x)
m = Dense(8, activation="relu", name="meta_dense")(meta)
merged = Concatenate(name="merge")([x, m])
merged = Dropout(0.3, name="dropout")(merged)
output = Dense(3, activation="softmax", name="output")(merged)
model = Model([image, meta], output, name="two_branches")

print_summary(model)

buffer = io.StringIO()
with redirect_stdout(buffer):
    print_summary(model, line_length=120, positions=[0.3, 0.55, 0.67, 1.0])
table = buffer.getvalue()
print(table)
assert "Connected to" in table, table
assert all(len(line) <= 120 for line in table.splitlines())
for name in ("image", "meta", "conv", "pool", "merge", "output"):
    assert name in table, name
assert "Total params: %s" % "{:,}".format(model.count_params()) in table

plot_model(model, to_file="model.png", show_shapes=True, show_layer_names=True)
assert os.path.getsize("model.png") > 1000
with open("model.png", "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"

dot = model_to_dot(model, show_shapes=True, rankdir="LR")
svg = dot.create(prog="dot", format="svg").decode("utf-8")
assert "<svg" in svg and "merge" in svg
print("plot: model.png, %d bytes of SVG" % len(svg))
