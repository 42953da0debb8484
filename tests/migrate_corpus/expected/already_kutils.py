# corpus: runnable
import keras
import kutils
from kutils import normalize

y = kutils.to_categorical([0]) + kutils.to_categorical([0])
z = normalize([[1.0]])
