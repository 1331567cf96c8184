"""Readers every family shares: downloads with sha256 checks, TFLite files, and the one loop
that copies converted arrays into Keras variables. The families' converters use them
(`cartoongan.families`); nothing here knows a family.

Every converter is a pure name mapping (source tensor -> Keras layer and variable) and an
optional layout change, handed to `assign_weights`, the one loop that copies them."""

import numpy as np


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


def assign_weights(model, arrays, keras_name, layout=None):
    """Assigns `arrays` ({source name: array}) to the variables of `model`: `keras_name(name)`
    -> (layer name, variable name) addresses each (KeyError for a name it does not know),
    `layout(name, array)` converts its layout (default: as it is). Refuses to finish unless
    every variable of `model` was assigned exactly once, with the shape it has: a converter
    that leaves a variable at its initial value is the classic bug."""
    assigned = {}
    for name, array in arrays.items():
        variable = find_variable(model, *keras_name(name))
        if variable.path in assigned:
            raise ValueError(f"{name} and {assigned[variable.path]} both map to {variable.path}")
        value = np.asarray(array, dtype="float32")
        value = layout(name, value) if layout is not None else value
        if tuple(variable.shape) != value.shape:
            raise ValueError(f"{name}: shape {value.shape}{' after conversion' if layout else ''} does not "
                             f"match {variable.path} {tuple(variable.shape)}")
        variable.assign(value)
        assigned[variable.path] = name
    missing = sorted(v.path for v in model.weights if v.path not in assigned)
    if missing:
        raise ValueError(f"weight conversion incomplete: Keras variables without a source: {missing}")
