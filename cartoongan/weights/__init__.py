"""Fetching and converting pretrained weights."""


def find_variable(model, layer_name, param):
    """The variable `param` ("kernel", "scale", ...) of layer `layer_name`; KeyError if absent."""
    try:
        layer = model.get_layer(layer_name)
    except ValueError as error:
        raise KeyError(f"{type(model).__name__} has no layer {layer_name!r}") from error
    for variable in layer.weights:
        if variable.name == param:
            return variable
    raise KeyError(f"layer {layer_name} has no variable {param!r}")
