# Keras 2.0-2.1.5 kept multi_gpu_model here.
from keras.utils.training_utils import multi_gpu_model

parallel = multi_gpu_model
