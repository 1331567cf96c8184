"""Reading an ONNX model's graph: its nodes and initializers (float16 cast to float32), with
the `onnx` package's parser (no runtime is needed).

A file that is not a readable ONNX model, or a tensor a converter cannot account for, is
refused with `ONNXError` naming the file and the tensor.
"""

import os

import numpy as np


class ONNXError(ValueError):
    """The file is not a readable ONNX model, or a tensor is not what a converter expects."""


class ONNXGraph:
    """`nodes` (in file order), `initializers` ({name: numpy array}, floats as float32),
    `consumers(tensor)` -> [(node, input position)], `producer(tensor)` -> node or None, and
    `attribute(node, name)`."""

    def __init__(self, path):
        import onnx
        from google.protobuf.message import DecodeError

        self.path = os.fspath(path)
        try:
            model = onnx.load(self.path)
        except OSError as error:
            raise ONNXError(f"{self.path}: cannot read: {error}") from error
        except (DecodeError, ValueError) as error:
            raise ONNXError(f"{self.path}: not an ONNX model: {error}") from error
        if not model.graph.node:
            raise ONNXError(f"{self.path}: not an ONNX model (no nodes)")
        self.graph = model.graph
        self.nodes = list(model.graph.node)
        self.initializers = {}
        for tensor in model.graph.initializer:
            value = onnx.numpy_helper.to_array(tensor)
            self.initializers[tensor.name] = value.astype(np.float32) if value.dtype.kind == "f" else value
        self.stored_dtypes = {t.name: onnx.helper.tensor_dtype_to_np_dtype(t.data_type) for t in model.graph.initializer}
        self._consumers, self._producers = {}, {}
        for node in self.nodes:
            for position, name in enumerate(node.input):
                self._consumers.setdefault(name, []).append((node, position))
            for name in node.output:
                self._producers[name] = node
        self.input_names = [i.name for i in model.graph.input if i.name not in self.initializers]
        self.output_names = [o.name for o in model.graph.output]

    def fail(self, message):
        raise ONNXError(f"{self.path}: {message}")

    def consumers(self, tensor):
        return self._consumers.get(tensor, [])

    def producer(self, tensor):
        return self._producers.get(tensor)

    @staticmethod
    def attribute(node, name, default=None):
        import onnx

        for attribute in node.attribute:
            if attribute.name == name:
                value = onnx.helper.get_attribute_value(attribute)
                return value.decode() if isinstance(value, bytes) else value
        return default
