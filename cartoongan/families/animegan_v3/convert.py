"""AnimeGANv3's published files -> AnimeGanV3Generator: a pure name mapping per file format.

Every kernel, LADE kernel, attention matrix and batch-norm vector is addressed by the
authors' TensorFlow scope (`generator/base/Conv_3/weights`: base = encoder, main = attention
and decoder; slim numbers the convolutions of a scope Conv, Conv_1, ... in creation order:
each block's 3x3 or 7x7 conv, then its LADE's 1x1 conv). Every other constant (paddings,
reduction axes, epsilons, resize factors, shapes of the attention's reshapes) must be the
value the generator's definition implies, every convolution's strides and padding must match
its Keras layer, and anything left over is refused with its name, as are Keras variables
left without a source (`cartoongan.weights.assign_weights`).
"""

import re

import numpy as np

from cartoongan.weights import assign_weights
from cartoongan.weights.graphdef import FrozenGraph

# The frozen graphs' input and output tensors.
PB_INPUT, PB_OUTPUT = "AnimeGANv3_input:0", "generator_1/main/out_layer:0"
_ENCODER_BLOCKS = ["enc1", "enc2", "enc3", "enc4", "enc5", "enc6", "enc7"]
_DECODER_BLOCKS = ["dec1a", "dec1b", "dec2a", "dec2b", "dec3a", "dec3b"]
_ATTENTION = "generator/main/External_attention"
_GRAPH_ATTENTION = "generator_1/main/External_attention"  # the scope of the graph's operations
# The attention's batch norm: the authors' unnamed variables, in creation order.
_BATCH_NORM = {"Variable": "gamma", "Variable_1": "beta", "Variable_2": "moving_mean", "Variable_3": "moving_variance"}


def _conv_name(index):
    return "Conv" if index == 0 else f"Conv_{index}"


def weight_scopes(face_layout=0, tiny_layout=0):
    """TF variable name -> (Keras layer, variable) for the generator's every convolution
    kernel and attention matrix, and (scenery layout) its LADE kernels and batch norm."""
    if face_layout:
        return _face_weight_scopes()
    if tiny_layout:
        return _tiny_weight_scopes()
    names = {}
    for scope, blocks in (("generator/base", _ENCODER_BLOCKS), ("generator/main", _DECODER_BLOCKS)):
        for i, block in enumerate(blocks):
            names[f"{scope}/{_conv_name(2 * i)}/weights"] = (f"{block}_conv", "kernel")
            names[f"{scope}/{_conv_name(2 * i + 1)}/weights"] = (f"{block}_norm", "kernel")
    names["generator/main/Conv_12/weights"] = ("out_conv", "kernel")
    names[f"{_ATTENTION}/Conv/weights"] = ("attention", "query_kernel")
    names[f"{_ATTENTION}/kernel"] = ("attention", "memory")
    names[f"{_ATTENTION}/Conv_1/weights"] = ("attention", "output_kernel")
    for variable, param in _BATCH_NORM.items():  # created in the graph's second copy of the scope
        names[f"{_GRAPH_ATTENTION}/{variable}"] = ("attention_norm", param)
    return names


_FACE_ENCODER_BLOCKS = 10
_FACE_DECODER_BLOCKS = 9


def _face_weight_scopes():
    """The JP_face file: each scope's convs in creation order, then the conv to RGB."""
    names = {f"generator/base/{_conv_name(i)}/weights": (f"enc{i + 1}_conv", "kernel")
             for i in range(_FACE_ENCODER_BLOCKS)}
    names.update({f"generator/main/{_conv_name(i)}/weights": (f"dec{i + 1}_conv", "kernel")
                  for i in range(_FACE_DECODER_BLOCKS)})
    names[f"generator/main/{_conv_name(_FACE_DECODER_BLOCKS)}/weights"] = ("out_conv", "kernel")
    names[f"{_ATTENTION}/Conv/weights"] = ("attention", "query_kernel")
    names[f"{_ATTENTION}/kernel"] = ("attention", "memory")
    names[f"{_ATTENTION}/Conv_1/weights"] = ("attention", "output_kernel")
    return names


# The tiny_Cute file's convolutions in creation order per scope; None: the LADE's 1x1 conv.
_TINY_ENCODER = [f"enc{i}" for i in range(1, 10)] + ["res1a", "res1b", "res1c", "res2a", "res2b", "res2c"]
_TINY_DECODER = [f"dec{i}" for i in range(1, 12)] + [None, "out"]
_TINY_WITHOUT_BIAS = {"res1c", "res2c", "dec11", "out"}  # no batch norm was folded into these


def _tiny_weight_scopes():
    """The tiny_Cute file (tf2onnx folded each batch norm into its conv: a kernel and a bias
    named `<scope>/Conv2D_weights_fused_bn`, `..._bias_fused_bn`; the convs without a norm
    keep `<scope>/weights`)."""
    names = {}
    for scope, blocks in (("generator/base", _TINY_ENCODER), ("generator/main", _TINY_DECODER)):
        for i, block in enumerate(blocks):
            conv = f"{scope}/{_conv_name(i)}"
            if block is None:
                names[f"{conv}/weights"] = ("dec11_norm", "kernel")
            elif block in _TINY_WITHOUT_BIAS:
                names[f"{conv}/weights"] = (f"{block}_conv", "kernel")
            else:
                names[f"{conv}/Conv2D_weights_fused_bn"] = (f"{block}_conv", "kernel")
                names[f"{conv}/Conv2D_bias_fused_bn"] = (f"{block}_conv", "bias")
    return names


def _face_norm_scopes():
    """The JP_face file's norms: TF scope -> Keras layer (scale = gamma, shift = beta)."""
    names = {f"generator/base/{'LayerNorm' if i == 0 else f'LayerNorm_{i}'}": f"enc{i + 1}_norm"
             for i in range(_FACE_ENCODER_BLOCKS)}
    names.update({f"generator/main/{'LayerNorm' if i == 0 else f'LayerNorm_{i}'}": f"dec{i + 1}_norm"
                  for i in range(_FACE_DECODER_BLOCKS)})
    names[f"{_ATTENTION}/InstanceNorm"] = "attention_norm"
    return names


def _layout(layer_name, param, value):
    """Source layouts -> Keras: 1x1 conv kernels (1, 1, C, C) and the conv1d memory
    (1, C, K) become matrices; conv kernels are HWIO in both."""
    if param in ("kernel", "query_kernel", "output_kernel", "memory") and not layer_name.endswith("_conv"):
        if value.shape[:-2] != (1,) * (value.ndim - 2):
            raise ValueError(f"a {value.shape} kernel where a 1x1 kernel is expected")
        return value.reshape(value.shape[-2:])
    return value


def _close(value, expected, relative=1e-6):
    return np.shape(value) == np.shape(expected) and np.allclose(value, expected, rtol=relative, atol=0)


# Constants that are part of the definition, not weights: name pattern -> (check, what). Paddings
# are checked per convolution (`_check_convolution`).
_GRAPH_STRUCTURE = [
    (r"generator_1/(base|main)/moments(_\d+)?/(mean|variance)/reduction_indices", lambda v: list(v) == [1, 2],
     "LADE's axes (height and width)"),
    (r"generator_1/(base|main)/add(_\d+)?/y", "epsilon", "LADE's epsilon"),
    (r"generator_1/main/strided_slice(_\d+)?/stack(_1|_2)?", lambda v: v.shape == (1,) and 0 <= v[0] <= 3,
     "an index into a shape"),
    (r"generator_1/main/mul(_\d+)?/x", lambda v: v == 2, "the upsampling factor 2"),
    (rf"{_GRAPH_ATTENTION}/(.*)", None, "the attention's definition"),
]
# The attention's constants, by the name under its scope.
_ATTENTION_CONSTANTS = {
    "Reshape/shape/1": -1, "Reshape/shape/2": None, "Reshape_1/shape/3": None,  # None: the channel count
    "conv1d/ExpandDims/dim": 1, "conv1d/ExpandDims_1/dim": 0, "conv1d_1/ExpandDims/dim": 1,
    "conv1d_1/ExpandDims_1/dim": 0,
    # softmax over axis 1 (the positions): transposes with perm [0, rank - 1, 2 .. rank - 2, 1]
    "Rank_1": 3, "Sub/y": 1, "Sub_1/y": 1, "range/start": 0, "range/limit": 1, "range/delta": 1,
    "range_1/start": 2, "range_1/delta": 1, "range_2/start": 0, "range_2/limit": 1, "range_2/delta": 1,
    "range_3/start": 2, "range_3/delta": 1, "concat/values_3": [1], "concat/axis": 0, "concat_1/values_3": [1],
    "concat_1/axis": 0,
    "Sum/reduction_indices": 2, "add/x": "softmax_epsilon", "transpose_2/perm": [0, 2, 1], "batchnorm/add/y": 1e-3,
    "MirrorPad/paddings": np.zeros((4, 2)), "MirrorPad_1/paddings": np.zeros((4, 2)),
}
# How the batch norm uses its four vectors (node -> its inputs): gamma * rsqrt(variance + eps)
# scales, beta - mean * scale shifts.
_BATCH_NORM_EDGES = {"batchnorm/add": ["Variable_3"], "batchnorm/mul": ["Variable"],
                     "batchnorm/mul_2": ["Variable_2"], "batchnorm/sub": ["Variable_1"]}


class _GraphConversion:
    def __init__(self, generator, graph):
        self.generator, self.graph = generator, graph
        self.scopes = weight_scopes()
        self.roles = {}  # const node -> what it is

    def fail(self, message):
        self.graph.fail(message)

    def run(self):
        graph = self.graph
        arrays = {}
        for name in graph.constants():
            if name in self.scopes:
                layer, param = self.scopes[name]
                try:
                    arrays[name] = _layout(layer, param, graph.constant(name))
                except ValueError as error:
                    self.fail(f"constant {name!r}: {error}")
                self.roles[name] = f"{layer}.{param}"
        for name, node in graph.nodes.items():
            if node.op == "Conv2D" and not name.endswith(("conv1d", "conv1d_1")):
                self._check_convolution(name)
            elif node.op == "LeakyRelu" and not _close(graph.attr(name, "alpha"), 0.2):
                self.fail(f"node {name!r}: LeakyReLU slope {graph.attr(name, 'alpha')}, expected 0.2")
            elif node.op == "ResizeBilinear" and (graph.attr(name, "align_corners")
                                                  or graph.attr(name, "half_pixel_centers")):
                self.fail(f"node {name!r}: bilinear resize with align_corners or half_pixel_centers, "
                          f"expected TF1's legacy rule")
        self._check_batch_norm()
        for name in graph.constants():
            if name not in self.roles:
                self._structural(name)
        try:
            assign_weights(self.generator, arrays, lambda name: self.scopes[name])
        except (KeyError, ValueError) as error:
            self.fail(str(error))

    def _check_convolution(self, name):
        graph = self.graph
        padded, weights = graph.inputs(name)
        weights = graph.through_identity(weights)
        if weights not in self.scopes:
            self.fail(f"convolution {name!r} reads {weights!r}, which is no variable of the generator")
        layer_name, _ = self.scopes[weights]
        if graph.node(padded).op != "MirrorPad" or graph.attr(padded, "mode") != "REFLECT":
            self.fail(f"convolution {name!r}: its input is not reflection-padded")
        if graph.attr(name, "padding") != "VALID" or graph.attr(name, "dilations") not in ([], [1, 1, 1, 1]):
            self.fail(f"convolution {name!r}: padding {graph.attr(name, 'padding')}, expected VALID, no dilation")
        if layer_name.endswith("_conv"):
            layer = self.generator.get_layer(layer_name)
            pads = self.generator.get_layer(layer_name[: -len("conv")] + "pad").pads
            strides = list(layer.strides)
        else:  # a LADE's 1x1 conv
            pads, strides = ((0, 0), (0, 0)), [1, 1]
        expected = np.array([[0, 0], *pads, [0, 0]])
        paddings = graph.inputs(padded)[1]
        if not np.array_equal(graph.constant(paddings), expected):
            self.fail(f"constant {paddings!r} = {graph.constant(paddings).tolist()}: expected {expected.tolist()} "
                      f"for {layer_name}")
        self.roles[paddings] = f"the reflection padding of {layer_name}"
        if graph.attr(name, "strides") != [1, *strides, 1]:
            self.fail(f"convolution {name!r}: strides {graph.attr(name, 'strides')}, expected {[1, *strides, 1]}")

    def _check_batch_norm(self):
        scope = _GRAPH_ATTENTION
        for node, variables in _BATCH_NORM_EDGES.items():
            inputs = [self.graph.through_identity(i) for i in self.graph.inputs(f"{scope}/{node}")]
            for variable in variables:
                if f"{scope}/{variable}" not in inputs:
                    self.fail(f"node {scope}/{node}: expected to read {scope}/{variable} "
                              f"({_BATCH_NORM[variable]}), reads {inputs}")

    def _structural(self, name):
        value = self.graph.constant(name)
        for pattern, check, what in _GRAPH_STRUCTURE:
            match = re.fullmatch(pattern, name)
            if not match:
                continue
            if check is None:  # the attention's constants
                if match.group(1) not in _ATTENTION_CONSTANTS:
                    break
                expected = _ATTENTION_CONSTANTS[match.group(1)]
                if expected is None:
                    expected = self.generator.get_layer("attention").memory.shape[0]
                elif isinstance(expected, str):  # a parameter of the generator
                    expected = getattr(self.generator, expected)
                if not _close(value, np.asarray(expected, dtype=value.dtype)):
                    self.fail(f"constant {name!r} = {value.tolist()}: expected {np.asarray(expected).tolist()} "
                              f"({what})")
            elif check == "epsilon":
                if not _close(value, np.float32(self.generator.norm_epsilon)):
                    self.fail(f"constant {name!r} = {value.tolist()}: expected {what} {self.generator.norm_epsilon}")
            elif not check(value):
                self.fail(f"constant {name!r} = {value.tolist()}: expected {what}")
            self.roles[name] = what
            return
        self.fail(f"constant {name!r} {value.shape} matches no variable of {type(self.generator).__name__} "
                  f"and no expected constant")


def _exponent(epsilon, dtype=np.float32):
    """k such that 10^-k, stored in `dtype`, is `epsilon` (ValueError if there is none)."""
    k = int(round(-np.log10(epsilon)))
    if np.asarray(10.0 ** -k, dtype) != np.asarray(epsilon, dtype):
        raise ValueError(f"epsilon {epsilon} is not a power of ten")
    return k


def graphdef_config(graph):
    """The generator parameters a frozen graph holds as constants: the LADE epsilon (that of
    its first norm) and the softmax's; the conversion checks every other occurrence."""
    try:
        return {"norm_epsilon_exponent": _exponent(graph.constant("generator_1/base/add/y")),
                "softmax_epsilon_exponent": _exponent(graph.constant(f"{_GRAPH_ATTENTION}/add/x"))}
    except ValueError as error:
        graph.fail(str(error))


def load_graphdef_weights(generator, path):
    """Assigns the constants of a frozen AnimeGANv3 graph (`.pb`) to `generator`."""
    graph = path if isinstance(path, FrozenGraph) else FrozenGraph(path)
    _GraphConversion(generator, graph).run()
    return generator


def convert_graphdef_file(paths):
    """The family's converter for a `.pb` style: {file name: path} -> AnimeGanV3Generator."""
    from cartoongan.families.animegan_v3.generator import AnimeGanV3Generator

    (path,) = paths.values()
    graph = FrozenGraph(path)
    return load_graphdef_weights(AnimeGanV3Generator(**graphdef_config(graph)), graph)


# ---- ONNX files (tf2onnx exports of the same graphs: weights in OIHW, float16 or float32)

_ONNX_ATTENTION = "generator/main/External_attention"
_ONNX_EPSILON_ADDS = re.compile(r"generator/(base|main)/add(_\d+)?|generator/main/External_attention/LayerNorm/"
                                r"batchnorm/add|generator/(base|main)/LayerNorm(_\d+)?/batchnorm/add")
# Integer constants that only feed shape arithmetic (the attention's reshapes, the resize
# sizes, statistics broadcast from NCHW to NHWC): their consumers' op types.
_SHAPE_OPS = {"Reshape", "Slice", "Squeeze", "Unsqueeze", "Gather", "Concat"}


def _onnx_config(graph):
    """The generator parameters an ONNX file holds as constants; the conversion checks every
    other occurrence."""
    def exponent(node_name, position):
        node = next((n for n in graph.nodes if n.name == node_name), None)
        if node is None or node.input[position] not in graph.initializers:
            graph.fail(f"no constant input {position} of node {node_name!r}: not an AnimeGANv3 graph")
        name = node.input[position]
        try:
            return _exponent(graph.initializers[name].reshape(-1)[0], graph.stored_dtypes[name])
        except ValueError as error:
            graph.fail(f"initializer {name!r}: {error}")

    first_kernel = graph.initializers.get("generator/base/Conv/Conv2D_weights_fused_bn")
    if first_kernel is not None:  # the tiny_Cute layout: folded batch norms, no attention
        return {"filters": int(first_kernel.shape[0]), "norm_epsilon_exponent": exponent("generator/main/add_4", 1),
                "tiny_layout": 1}
    if f"{_ONNX_ATTENTION}/InstanceNorm/gamma/read:0" in graph.initializers:  # the JP_face layout
        return {"norm_epsilon_exponent": exponent("generator/base/LayerNorm/batchnorm/add", 1),
                "softmax_epsilon_exponent": exponent(f"{_ONNX_ATTENTION}/add", 0), "face_layout": 1}
    has_layer_norm = f"{_ONNX_ATTENTION}/LayerNorm/gamma/read:0" in graph.initializers
    if not has_layer_norm:
        graph.fail("the attention is followed by neither a layer norm (LayerNorm/gamma) nor an instance norm "
                   "(InstanceNorm/gamma): not a known AnimeGANv3 graph")
    return {"norm_epsilon_exponent": exponent("generator/base/add", 1),
            "softmax_epsilon_exponent": exponent(f"{_ONNX_ATTENTION}/add", 0), "attention_layer_norm": 1}


class _ONNXConversion:
    def __init__(self, generator, graph):
        self.generator, self.graph = generator, graph
        self.face_layout = getattr(generator, "face_layout", 0)
        self.tiny_layout = getattr(generator, "tiny_layout", 0)
        self.scopes = weight_scopes(self.face_layout, self.tiny_layout)
        self.norm_scopes = _face_norm_scopes() if self.face_layout else {}
        self.roles = {}  # initializer -> what it is
        self.arrays = {}  # source name -> array in Keras layout

    def fail(self, message):
        self.graph.fail(message)

    def run(self):
        graph = self.graph
        memory = f"{_ONNX_ATTENTION}/conv1d/ExpandDims_1:0"
        for name, value in graph.initializers.items():
            scope = _variable(name)
            if scope in self.scopes:
                layer, param = self.scopes[scope]
                if param == "bias":
                    if value.ndim != 1:
                        self.fail(f"initializer {name!r} {value.shape}: expected a convolution bias")
                    self.arrays[scope] = value
                else:
                    if value.ndim != 4:
                        self.fail(f"initializer {name!r} {value.shape}: expected a convolution kernel")
                    try:
                        self.arrays[scope] = _layout(layer, param, np.transpose(value, (2, 3, 1, 0)))
                    except ValueError as error:
                        self.fail(f"initializer {name!r}: {error}")
                self.roles[name] = f"{layer}.{param}"
            elif name == memory:  # conv1d kernel (slots, channels, 1, 1)
                self.arrays[f"{_ATTENTION}/kernel"] = value[:, :, 0, 0].T
                self.roles[name] = "attention.memory"
        if self.face_layout:
            self._face_norms()
        elif not self.tiny_layout:
            self._attention_norm()
        if not self.tiny_layout:
            self._memory_transpose()
        for node in graph.nodes:
            self._check_node(node)
        for name in graph.initializers:
            if name not in self.roles:
                self._structural(name)
        scopes = {**self.scopes, "attention_norm/scale": ("attention_norm", "scale"),
                  "attention_norm/shift": ("attention_norm", "shift")}
        scopes.update({f"{layer}/{param}": (layer, param) for layer in self.norm_scopes.values()
                       for param in ("scale", "shift")})
        try:
            assign_weights(self.generator, self.arrays, lambda name: scopes[name])
        except (KeyError, ValueError) as error:
            self.fail(str(error))

    def _input_of(self, node_name, position):
        node = next((n for n in self.graph.nodes if n.name == node_name), None)
        if node is None or node.input[position] not in self.graph.initializers:
            self.fail(f"node {node_name!r}: expected a constant input {position}")
        return node.input[position]

    def _attention_norm(self):
        gamma = f"{_ONNX_ATTENTION}/LayerNorm/gamma/read:0"
        beta = self._input_of(f"{_ONNX_ATTENTION}/LayerNorm/batchnorm/sub", 0)
        for name, param in ((gamma, "scale"), (beta, "shift")):
            self.arrays[f"attention_norm/{param}"] = self.graph.initializers[name].reshape(-1)
            self.roles[name] = f"attention_norm.{param}"

    def _face_norms(self):
        """Each norm's gamma (its own initializer) and beta (folded: the constant its
        `.../sub` node subtracts from), checked to be per-channel vectors of the layer's width."""
        for scope, layer in self.norm_scopes.items():
            inner = "instancenorm" if scope.endswith("InstanceNorm") else "batchnorm"
            gamma = f"{scope}/gamma/read:0"
            if gamma not in self.graph.initializers:
                self.fail(f"no initializer {gamma!r} (the scale of {layer})")
            beta = self._input_of(f"{scope}/{inner}/sub", 0)
            for name, param in ((gamma, "scale"), (beta, "shift")):
                value = self.graph.initializers[name]
                if value.shape[:1] + value.shape[2:] != (1, 1, 1):
                    self.fail(f"initializer {name!r} {value.shape}: expected a (1, C, 1, 1) vector for {layer}")
                self.arrays[f"{layer}/{param}"] = value.reshape(-1)
                self.roles[name] = f"{layer}.{param}"

    def _memory_transpose(self):
        """The second conv1d reads the memory transposed: its kernel must be the same values."""
        name = f"{_ONNX_ATTENTION}/conv1d_1/ExpandDims_1:0"
        memory = self.arrays.get(f"{_ATTENTION}/kernel")
        value = self.graph.initializers.get(name)
        if memory is None or value is None or not np.array_equal(value[:, :, 0, 0], memory):
            self.fail(f"initializer {name!r} is not the attention memory transposed")
        self.roles[name] = "attention.memory (transposed copy)"

    def _conv_layer(self, node):
        """The Keras layer name of a Conv node (from its kernel's scope)."""
        scope = _variable(node.input[1])
        if scope in self.scopes:
            return self.scopes[scope][0]
        return "attention" if node.input[1].startswith(f"{_ONNX_ATTENTION}/conv1d") else None

    def _check_node(self, node):
        graph = self.graph
        if node.op_type == "Conv":
            layer_name = self._conv_layer(node)
            if layer_name is None:
                self.fail(f"convolution {node.name!r} reads {node.input[1]!r}, which is no variable of the generator")
            layer = self.generator.get_layer(layer_name)
            strides = list(layer.strides) if layer_name.endswith("_conv") else [1, 1]
            bias = getattr(layer, "use_bias", False)
            if list(graph.attribute(node, "strides", [1, 1])) != strides or graph.attribute(node, "group", 1) != 1 \
                    or set(graph.attribute(node, "dilations", [1, 1])) != {1} or len(node.input) != 2 + bias \
                    or set(graph.attribute(node, "pads", [0])) != {0}:
                self.fail(f"convolution {node.name!r}: strides, groups, dilations, padding or bias differ from "
                          f"{layer_name} (strides {strides}, {'a' if bias else 'no'} bias, padded by its Pad node)")
            if bias and self.scopes.get(_variable(node.input[2])) != (layer_name, "bias"):
                self.fail(f"convolution {node.name!r} adds {node.input[2]!r}, which is not the bias of {layer_name}")
        elif node.op_type == "Pad":
            self._check_pad(node)
        elif node.op_type == "LeakyRelu" and not _close(graph.attribute(node, "alpha"), 0.2):
            self.fail(f"node {node.name!r}: LeakyReLU slope {graph.attribute(node, 'alpha')}, expected 0.2")
        elif node.op_type in ("Resize", "Upsample") and (
                graph.attribute(node, "mode") != "linear"
                or graph.attribute(node, "coordinate_transformation_mode", "asymmetric") != "asymmetric"):
            self.fail(f"node {node.name!r}: a resize other than TF1's legacy bilinear (linear, asymmetric)")
        elif node.op_type == "Add" and _ONNX_EPSILON_ADDS.fullmatch(node.name):
            self._epsilon(node, self.generator.norm_epsilon, "a layer norm's epsilon" if "LayerNorm" in node.name
                          else "LADE's epsilon")
        elif node.op_type == "Add" and node.name == f"{_ONNX_ATTENTION}/InstanceNorm/instancenorm/add":
            self._epsilon(node, self.generator.get_layer("attention_norm").epsilon,
                          "the attention instance norm's epsilon")
        elif node.op_type == "Add" and node.name == f"{_ONNX_ATTENTION}/add":
            self._epsilon(node, self.generator.softmax_epsilon, "the attention's softmax epsilon")
        elif node.op_type == "ReduceSum" and node.name == f"{_ONNX_ATTENTION}/Sum":
            # each position's sum over the slots: (batch, positions, slots) axis 2
            axes = graph.initializers.get(node.input[1]) if len(node.input) > 1 else graph.attribute(node, "axes")
            if axes is None or np.asarray(axes).reshape(-1).tolist() != [2]:
                self.fail(f"node {node.name!r}: sums over axes {axes}, expected [2] (the memory slots)")
            if len(node.input) > 1:
                self.roles[node.input[1]] = "the attention's sum axis"
        elif node.op_type == "Mul" and re.fullmatch(r"generator/main/mul(_\d+)?", node.name):
            for name in node.input:
                if name in graph.initializers:
                    if graph.initializers[name].reshape(-1).tolist() != [2]:
                        self.fail(f"initializer {name!r}: expected the upsampling factor 2")
                    self.roles[name] = "the upsampling factor 2"

    def _epsilon(self, node, expected, what):
        for name in node.input:
            if name in self.graph.initializers:
                value, dtype = self.graph.initializers[name], self.graph.stored_dtypes[name]
                if value.size != 1 or np.asarray(expected, dtype) != np.asarray(value.reshape(-1)[0], dtype):
                    self.fail(f"initializer {name!r} = {value.reshape(-1).tolist()}: expected {what} {expected}")
                self.roles[name] = what

    def _check_pad(self, node):
        graph = self.graph
        if graph.attribute(node, "mode") != "reflect":
            self.fail(f"node {node.name!r}: padding mode {graph.attribute(node, 'mode')}, expected reflect")
        conv, seen = None, node
        while conv is None:  # the Conv it feeds, through layout transposes
            consumers = graph.consumers(seen.output[0])
            if len(consumers) != 1 or consumers[0][0].op_type not in ("Conv", "Transpose"):
                self.fail(f"node {node.name!r}: a padding that feeds no single convolution")
            seen = consumers[0][0]
            conv = seen if seen.op_type == "Conv" else None
        layer_name = self._conv_layer(conv)
        if layer_name and layer_name.endswith("_conv"):
            (top, bottom), (left, right) = self.generator.get_layer(layer_name[: -len("conv")] + "pad").pads
        else:
            top = bottom = left = right = 0
        if len(node.input) > 1 and node.input[1]:
            pads_name = node.input[1]
            pads = graph.initializers.get(pads_name)
            if pads is None:
                self.fail(f"node {node.name!r}: computed paddings")
            self.roles[pads_name] = f"the reflection padding of {layer_name}"
        else:
            pads_name, pads = node.name, np.array(graph.attribute(node, "pads"))
        nhwc = [0, top, left, 0, 0, bottom, right, 0]
        nchw = [0, 0, top, left, 0, 0, bottom, right]
        if pads.tolist() not in (nhwc, nchw):
            self.fail(f"{pads_name!r} = {pads.tolist()}: expected the paddings of {layer_name} "
                      f"({nhwc} in NHWC or {nchw} in NCHW)")

    def _structural(self, name):
        graph = self.graph
        value = graph.initializers[name]
        consumers = [node.op_type for node, _ in graph.consumers(name)]
        if value.dtype.kind in "iu" and value.size <= 8 and consumers and set(consumers) <= _SHAPE_OPS:
            self.roles[name] = "shape arithmetic"
            return
        if value.size == 0 and consumers and all(  # an empty region of interest of a Resize, maybe cast
                node.op_type == "Resize" and position in (1, 2)  # roi, or empty scales
                or node.op_type == "Cast" and graph.consumers(node.output[0])[0][0].op_type == "Resize"
                for node, position in graph.consumers(name)):
            self.roles[name] = "a resize's empty region of interest"
            return
        if value.dtype.kind == "f" and value.tolist() == [1, 1] and set(consumers) == {"Concat"} and all(
                _feeds_resize(graph, node) for node, _ in graph.consumers(name)):
            self.roles[name] = "an upsampling's unit scales of batch and channels"
            return
        self.fail(f"initializer {name!r} {value.shape} (read by {', '.join(consumers) or 'nothing'}) matches no "
                  f"variable of {type(self.generator).__name__} and no expected constant")


def _variable(name):
    """An initializer's source variable: tf2onnx names a variable's value `<variable>/read:0`
    and a folded one by itself."""
    return name[: -len("/read:0")] if name.endswith("/read:0") else name


def _feeds_resize(graph, node):
    """Whether `node`'s output reaches an Upsample or Resize through Casts only."""
    for consumer, _ in graph.consumers(node.output[0]):
        if consumer.op_type in ("Upsample", "Resize") or (consumer.op_type == "Cast"
                                                          and _feeds_resize(graph, consumer)):
            return True
    return False


def load_onnx_weights(generator, graph):
    """Assigns the initializers of an AnimeGANv3 ONNX file (`ONNXGraph`) to `generator`."""
    _ONNXConversion(generator, graph).run()
    return generator


def convert_onnx_file(paths):
    """The family's converter for an ONNX style: {file name: path} -> AnimeGanV3Generator."""
    from cartoongan.families.animegan_v3.generator import AnimeGanV3Generator
    from cartoongan.weights.onnx_model import ONNXGraph

    (path,) = paths.values()
    graph = ONNXGraph(path)
    return load_onnx_weights(AnimeGanV3Generator(**_onnx_config(graph)), graph)
