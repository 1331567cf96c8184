"""TFLite files of TFLite-born styles -> Keras generators: the walk every family's converter
shares; each family gives its scope table and its expected constants (`cartoongan.families`).

A converter walks the file's operators: every convolution's kernel (and bias) and every
layer norm's gamma and beta is addressed by its TensorFlow scope name, which a table maps
to a Keras layer of the generator; every other constant (paddings, sizes, the guided
filter's box kernel, epsilons) must be one the family's definition expects, with the value
it expects. Anything else, a Keras variable left without a source, a shape that does not
fit: `TFLiteError` naming the tensor or the variable. Float16 weights are cast, int8
weights and int32 biases dequantized (`cartoongan.weights.tflite`).

The converters also return, for each Keras layer, the file's tensor holding the same
activation (`activations`): the parity tests simulate the file's int8 activations with it.
"""

import re

import numpy as np

from cartoongan.weights.tflite import TFLiteError, TFLiteModel

_CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def close(value, expected, relative):
    return np.allclose(value, expected, rtol=relative, atol=0)


def _kernel(op, values):
    """TFLite kernel layouts -> Keras: CONV_2D (out, kh, kw, in) -> (kh, kw, in, out);
    DEPTHWISE_CONV_2D (1, kh, kw, channels) -> (kh, kw, channels, 1)."""
    if op.opcode == "CONV_2D":
        return np.transpose(values, (1, 2, 3, 0))
    _, kh, kw, channels = values.shape
    return values.reshape(kh, kw, channels, 1)


class _Conversion:
    def __init__(self, generator, model, scopes, structure):
        self.generator, self.model, self.scopes, self.structure = generator, model, scopes, structure
        self.roles = {}  # constant tensor index -> what it was used as
        self.assigned = {}  # variable path -> tensor name
        self.activations = {}  # Keras layer name -> tensor index of the same activation

    def fail(self, message):
        raise TFLiteError(f"{self.model.path}: {message}")

    def layer(self, scope, tensor):
        if scope not in self.scopes:
            self.fail(f"tensor {tensor.name!r} {tensor.shape}: no layer of {type(self.generator).__name__} "
                      f"corresponds to scope {scope!r}")
        try:
            return self.generator.get_layer(self.scopes[scope])
        except ValueError:
            self.fail(f"tensor {tensor.name!r}: {type(self.generator).__name__} has no layer "
                      f"{self.scopes[scope]!r}")

    def assign(self, layer, param, index, values):
        tensor = self.model.tensors[index]
        variable = next((v for v in layer.weights if v.name == param), None)
        if variable is None:
            self.fail(f"tensor {tensor.name!r}: layer {layer.name} has no variable {param!r}")
        if variable.path in self.assigned:
            self.fail(f"tensors {tensor.name!r} and {self.assigned[variable.path]!r} both map to {variable.path}")
        if tuple(variable.shape) != values.shape:
            self.fail(f"tensor {tensor.name!r}: shape {values.shape} (in Keras layout) does not match "
                      f"{variable.path} {tuple(variable.shape)}")
        variable.assign(values)
        self.assigned[variable.path] = tensor.name
        self.roles[index] = variable.path

    def structural(self, index):
        tensor = self.model.tensors[index]
        candidates = [(check, what) for pattern, check, what in self.structure if re.fullmatch(pattern, tensor.name)]
        if not candidates:
            return False
        values = self.model.constant(index)
        for check, what in candidates:
            if check(values):
                self.roles[index] = what
                return True
        self.fail(f"tensor {tensor.name!r} {tensor.shape} should be {' or '.join(w for _, w in candidates)}, "
                  f"but holds other values")

    def convolution(self, op):
        x, weights, *rest = op.inputs
        source = self.model.constant_source(weights)
        if source is None:
            self.fail(f"a {op.opcode} operator has computed weights")
        if self.structural(source):  # the guided filter's box filter
            if rest and rest[0] >= 0 and not self.structural(self.model.constant_source(rest[0])):
                self.fail(f"the bias {self.model.tensors[rest[0]].name!r} of a box filter is unexpected")
            return
        tensor = self.model.tensors[source]
        scope = tensor.name.rsplit("/", 1)[0]
        layer = self.layer(scope, tensor)
        self.assign(layer, "kernel", source, _kernel(op, self.model.constant(source)))
        self.activations[layer.name] = op.outputs[0]
        bias = self.model.constant_source(rest[0]) if rest and rest[0] >= 0 else None
        if bias is None:
            if layer.use_bias:
                self.fail(f"tensor {tensor.name!r}: the operator has no bias, but layer {layer.name} has one")
            return
        values = self.model.constant(bias)
        bias_name = self.model.tensors[bias].name
        if layer.use_bias:
            if not {f"{scope}/biases", f"{scope}/bias"} & set(bias_name.split(";")):
                self.fail(f"tensor {bias_name!r} is the bias of {tensor.name!r} but is not named after {scope}")
            self.assign(layer, "bias", bias, values)
        elif np.any(values != 0):
            self.fail(f"tensor {bias_name!r}: a nonzero bias for {tensor.name!r}, but layer {layer.name} has none")
        else:
            self.roles.setdefault(bias, "a zero bias")

    def norm_parameter(self, index):
        tensor = self.model.tensors[index]
        match = re.fullmatch(r"(.*)/(gamma|beta)", tensor.name)
        if not match:
            return False
        layer = self.layer(match.group(1), tensor)
        self.assign(layer, "scale" if match.group(2) == "gamma" else "shift", index, self.model.constant(index))
        return True

    def run(self):
        for op in self.model.operators:
            if op.opcode in _CONV_OPS:
                self.convolution(op)
        for index in self.model.constants():
            if index not in self.roles and not self.norm_parameter(index) and not self.structural(index):
                tensor = self.model.tensors[index]
                self.fail(f"constant tensor {tensor.name!r} {tensor.shape} matches no variable of "
                          f"{type(self.generator).__name__} and no expected constant")
        missing = sorted(v.path for v in self.generator.weights if v.path not in self.assigned)
        if missing:
            self.fail(f"Keras variables without a source tensor: {', '.join(missing)}")
        self._map_activations()
        return self.activations

    def _map_activations(self):
        """Besides each convolution's output: each layer norm's output (`<scope>/batchnorm/
        add_1`) and the LeakyReLU after a convolution or a norm, found through the operators."""
        names = {t.name: t.index for t in self.model.tensors}
        for scope, layer_name in self.scopes.items():
            if layer_name.endswith("_norm") and f"{scope}/batchnorm/add_1" in names:
                self.activations[layer_name] = names[f"{scope}/batchnorm/add_1"]
        for op in self.model.operators:
            if op.opcode != "LEAKY_RELU":
                continue
            for layer_name, index in list(self.activations.items()):
                if op.inputs[0] == index:
                    self.activations[re.sub(r"_(conv|norm)$", "_lrelu", layer_name)] = op.outputs[0]


def load_tflite_weights(generator, path, scopes, structure):
    """Assigns the constants of the TFLite file `path` to `generator` (see the module
    docstring); returns {Keras layer name: index of the file's tensor of that activation}."""
    model = path if isinstance(path, TFLiteModel) else TFLiteModel(path)
    return _Conversion(generator, model, scopes, structure).run()
