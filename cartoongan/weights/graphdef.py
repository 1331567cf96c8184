"""Reading a frozen TensorFlow 1 GraphDef (`.pb`): its nodes and constant values, with
TensorFlow's own protobuf parser (no graph is imported or run).

A file that is not a readable GraphDef, or a node a converter cannot account for, is refused
with `GraphDefError` naming the file and the node.
"""

import os

import numpy as np


class GraphDefError(ValueError):
    """The file is not a readable frozen GraphDef, or a node is not what a converter expects."""


class FrozenGraph:
    """`nodes` ({name: NodeDef}, in file order), `constant(name)` (float32 for float tensors,
    read through Identity nodes), `consumers(name)` and `attr(name, key)`."""

    def __init__(self, path):
        from google.protobuf.message import DecodeError
        from tensorflow.core.framework import graph_pb2

        self.path = os.fspath(path)
        graph = graph_pb2.GraphDef()
        try:
            with open(self.path, "rb") as f:
                graph.ParseFromString(f.read())
        except OSError as error:
            raise GraphDefError(f"{self.path}: cannot read: {error}") from error
        except DecodeError as error:
            raise GraphDefError(f"{self.path}: not a TensorFlow GraphDef: {error}") from error
        if not graph.node:
            raise GraphDefError(f"{self.path}: not a TensorFlow GraphDef (no nodes)")
        self.nodes = {node.name: node for node in graph.node}
        self._consumers = {}
        for node in graph.node:
            for source in node.input:
                self._consumers.setdefault(self.source(source), []).append(node.name)

    def fail(self, message):
        raise GraphDefError(f"{self.path}: {message}")

    @staticmethod
    def source(input_name):
        """The node an input string names ("^ctrl", "node:1" -> "ctrl", "node")."""
        return input_name.lstrip("^").split(":")[0]

    def node(self, name):
        if name not in self.nodes:
            self.fail(f"no node {name!r}")
        return self.nodes[name]

    def inputs(self, name):
        return [self.source(i) for i in self.node(name).input if not i.startswith("^")]

    def consumers(self, name):
        return self._consumers.get(name, [])

    def constants(self):
        return [name for name, node in self.nodes.items() if node.op == "Const"]

    def through_identity(self, name):
        """The node behind a chain of Identity nodes."""
        while self.node(name).op == "Identity":
            name = self.inputs(name)[0]
        return name

    def constant(self, name):
        """The value of Const node `name` (or of the Const behind Identity nodes), as numpy;
        float tensors as float32."""
        import tensorflow as tf

        node = self.node(self.through_identity(name))
        if node.op != "Const":
            self.fail(f"node {name!r} is a {node.op}, not a constant")
        value = tf.make_ndarray(node.attr["value"].tensor)
        return value.astype(np.float32) if np.issubdtype(value.dtype, np.floating) else value

    def attr(self, name, key):
        """A scalar or list attribute of a node as Python values (strings decoded)."""
        value = self.node(name).attr[key]
        kind = value.WhichOneof("value")
        if kind == "list":
            return list(value.list.i) or list(value.list.f) or [s.decode() for s in value.list.s]
        result = getattr(value, kind) if kind else None
        return result.decode() if isinstance(result, bytes) else result


# ---- the file under its own runtime, and independent float16 copies of it (the references
# the parity tests and benchmarks/styles_speed.py hold converted generators to)


def graph_function(path, input_name, output_name):
    """The frozen graph as a TensorFlow function of one float32 NHWC batch (any size), run by
    TensorFlow's own kernels (import_graph_def)."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())

    def imported(x):
        return tf.compat.v1.import_graph_def(graph_def, input_map={input_name: x}, return_elements=[output_name],
                                             name="")[0]

    return tf.compat.v1.wrap_function(imported, [tf.TensorSpec([1, None, None, 3], tf.float32)])


def float16_tflite(path, input_name, output_name):
    """A TFLite copy of the graph with float16 weights (TensorFlow's converter, float16
    quantization), as bytes."""
    import tensorflow as tf

    function = graph_function(path, input_name, output_name)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], function)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def float16_onnx(path, input_name, output_name, opset=13):
    """An ONNX copy of the graph computing in float16 (tf2onnx, then every float tensor, input
    and output cast to float16 but a Resize's float32-only inputs), as an onnx ModelProto."""
    import onnx
    import tensorflow as tf
    import tf2onnx
    from onnx import TensorProto, numpy_helper

    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())
    model, _ = tf2onnx.convert.from_graph_def(graph_def, input_names=[input_name], output_names=[output_name],
                                              opset=opset)
    graph = model.graph
    float32_only = {name for node in graph.node if node.op_type == "Resize" for name in node.input[1:3]}
    for i, tensor in enumerate(graph.initializer):
        if tensor.data_type == TensorProto.FLOAT and tensor.name not in float32_only:
            graph.initializer[i].CopyFrom(
                numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16), tensor.name))
    for value in [*graph.input, *graph.output]:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            value.type.tensor_type.elem_type = TensorProto.FLOAT16
    del graph.value_info[:]
    for node in graph.node:
        for attribute in node.attribute:
            if node.op_type == "Cast" and attribute.name == "to" and attribute.i == TensorProto.FLOAT:
                attribute.i = TensorProto.FLOAT16
            if node.op_type == "Constant" and attribute.name == "value" and attribute.t.data_type == TensorProto.FLOAT:
                attribute.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attribute.t).astype(np.float16)))
    onnx.checker.check_model(model)
    return model
