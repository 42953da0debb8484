# corpus: runnable
import kutils

assert kutils.normalize([[3.0, 4.0]]).tolist() == [[0.6, 0.8]]
