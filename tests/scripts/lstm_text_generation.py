'''Character-level text generation with an LSTM, on a text fetched with get_file.

At least 20 epochs are required before the generated text starts sounding
coherent on the real corpus; this run trains one epoch on a small stand-in.
'''
# kutils-script: lines=keras3

from __future__ import print_function

import io
import os
import random
import sys

import numpy as np
from keras.callbacks import LambdaCallback
from keras.layers import Dense, LSTM
from keras.models import Sequential
from keras.optimizers import RMSprop
from kutils.data_utils import get_file  # was: from keras.utils.data_utils import get_file

DATA_URL = os.environ.get('DATA_URL', 'https://s3.amazonaws.com/text-datasets/')

path = get_file('nietzsche.txt', origin=DATA_URL + 'nietzsche.txt')
with io.open(path, encoding='utf-8') as f:
    text = f.read().lower()
print('corpus length:', len(text))

chars = sorted(list(set(text)))
print('total chars:', len(chars))
char_indices = dict((c, i) for i, c in enumerate(chars))
indices_char = dict((i, c) for i, c in enumerate(chars))

# cut the text in semi-redundant sequences of maxlen characters
maxlen = 20
step = 7
sentences = []
next_chars = []
for i in range(0, len(text) - maxlen, step):
    sentences.append(text[i: i + maxlen])
    next_chars.append(text[i + maxlen])
print('nb sequences:', len(sentences))

print('Vectorization...')
x = np.zeros((len(sentences), maxlen, len(chars)), dtype=bool)
y = np.zeros((len(sentences), len(chars)), dtype=bool)
for i, sentence in enumerate(sentences):
    for t, char in enumerate(sentence):
        x[i, t, char_indices[char]] = 1
    y[i, char_indices[next_chars[i]]] = 1

print('Build model...')
model = Sequential()
model.add(LSTM(32, input_shape=(maxlen, len(chars))))
model.add(Dense(len(chars), activation='softmax'))

optimizer = RMSprop(learning_rate=0.01)  # Keras 3: was RMSprop(lr=0.01)
model.compile(loss='categorical_crossentropy', optimizer=optimizer)


def sample(preds, temperature=1.0):
    # helper function to sample an index from a probability array
    preds = np.asarray(preds).astype('float64')
    preds = np.log(preds) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    probas = np.random.multinomial(1, preds, 1)
    return np.argmax(probas)


generated_texts = []


def on_epoch_end(epoch, _):
    # Function invoked at end of each epoch. Prints generated text.
    print()
    print('----- Generating text after Epoch: %d' % epoch)
    start_index = random.randint(0, len(text) - maxlen - 1)
    for diversity in [0.5, 1.0]:
        print('----- diversity:', diversity)
        generated = ''
        sentence = text[start_index: start_index + maxlen]
        generated += sentence
        print('----- Generating with seed: "' + sentence + '"')
        sys.stdout.write(generated)
        for i in range(20):
            x_pred = np.zeros((1, maxlen, len(chars)))
            for t, char in enumerate(sentence):
                x_pred[0, t, char_indices[char]] = 1.
            preds = model.predict(x_pred, verbose=0)[0]
            next_index = sample(preds, diversity)
            next_char = indices_char[next_index]
            generated += next_char
            sentence = sentence[1:] + next_char
            sys.stdout.write(next_char)
            sys.stdout.flush()
        print()
        generated_texts.append(generated)


print_callback = LambdaCallback(on_epoch_end=on_epoch_end)

history = model.fit(x, y, batch_size=128, epochs=1, callbacks=[print_callback], verbose=2)
assert len(generated_texts) == 2 and all(len(t) == maxlen + 20 for t in generated_texts)
assert history.history['loss'][-1] < np.log(len(chars)), history.history
