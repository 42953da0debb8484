from keras.utils.vis_utils import plot_model, model_to_dot


def draw(model):
    plot_model(model, to_file="model.png", show_shapes=True)
    return model_to_dot(model)
