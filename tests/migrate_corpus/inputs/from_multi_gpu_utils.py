from keras.utils.multi_gpu_utils import multi_gpu_model


def parallel(model):
    return multi_gpu_model(model, gpus=2)
