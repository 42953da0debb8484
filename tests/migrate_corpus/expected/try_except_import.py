# corpus: runnable
try:
    from kutils import multi_gpu_model
except ImportError:
    multi_gpu_model = None

assert multi_gpu_model is not None
