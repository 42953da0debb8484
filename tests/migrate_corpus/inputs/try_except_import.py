# corpus: runnable
try:
    from keras.utils import multi_gpu_model
except ImportError:
    multi_gpu_model = None

assert multi_gpu_model is not None
