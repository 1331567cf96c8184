"""Reading a TFLite flatbuffer: its tensors, operators and constant values, dequantized.

Constant tensors come back as float32 numpy arrays: float16 is cast, int8/uint8/int16/int32
values are dequantized with their scales and zero points, per channel along the quantized
dimension. The schema is TensorFlow's own generated reader (no interpreter is needed, and
LiteRT is only an optional extra of this project). Every offset is checked against the file
size, so a truncated or corrupt file is refused with its name instead of read as garbage.
"""

import dataclasses
import os
import struct

import numpy as np

_IDENTIFIER = b"TFL3"
# TensorType -> numpy dtype of the stored values (schema.fbs).
_STORED_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8,
                  10: np.float64}
_INTEGER_TYPES = {2, 3, 4, 7, 9}


class TFLiteError(ValueError):
    """The file is not a readable TFLite model, or a tensor is not what a converter expects;
    the message names the file and the tensor."""


@dataclasses.dataclass(frozen=True)
class Quantization:
    scales: np.ndarray  # float32, one per channel (or one)
    zero_points: np.ndarray  # int64, as many as scales
    axis: int  # the quantized dimension when there are several scales


@dataclasses.dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple
    type: int  # TensorType
    buffer: int
    quantization: Quantization | None


@dataclasses.dataclass(frozen=True)
class Operator:
    opcode: str  # BuiltinOperator name ("CONV_2D", ...), or the custom code
    inputs: tuple  # tensor indices (-1: optional input left out)
    outputs: tuple


class TFLiteModel:
    """The first subgraph of a .tflite file: `tensors`, `operators`, `constant(index)`."""

    def __init__(self, path):
        self.path = os.fspath(path)
        try:
            with open(self.path, "rb") as f:
                self._data = f.read()
        except OSError as error:
            raise TFLiteError(f"{self.path}: cannot read ({error.strerror or error})") from error
        if len(self._data) < 8 or self._data[4:8] != _IDENTIFIER:
            raise TFLiteError(f"{self.path}: not a TFLite file (no {_IDENTIFIER.decode()} identifier)")
        try:
            self._parse()
        except (IndexError, ValueError, TypeError, UnicodeDecodeError, OverflowError, struct.error) as error:
            if isinstance(error, TFLiteError):
                raise
            raise TFLiteError(f"{self.path}: damaged or truncated TFLite file ({type(error).__name__}: "
                              f"{error})") from error

    def _check_span(self, start, length, what):
        if start < 0 or length < 0 or start + length > len(self._data):
            raise TFLiteError(f"{self.path}: {what} lies past the end of the file ({len(self._data)} bytes): "
                              f"truncated or corrupt")

    def _parse(self):
        from tensorflow.lite.python import schema_py_generated as schema

        operator_names = {value: name for name, value in vars(schema.BuiltinOperator).items()
                          if not name.startswith("_")}
        self._check_span(0, 4, "the root table")
        model = schema.Model.GetRootAs(self._data, 0)
        self._check_span(model._tab.Pos, 4, "the model table")
        if model.SubgraphsLength() < 1:
            raise TFLiteError(f"{self.path}: the model has no subgraph")
        graph = model.Subgraphs(0)
        self._check_span(graph._tab.Pos, 4, "the subgraph table")
        self._buffers = []
        for i in range(model.BuffersLength()):
            buffer = model.Buffers(i)
            self._check_span(buffer._tab.Pos, 4, f"buffer {i}")
            if buffer.Offset() > 1:  # models over 2 GB keep data after the flatbuffer
                self._check_span(buffer.Offset(), buffer.Size(), f"buffer {i}")
                self._buffers.append((buffer.Offset(), buffer.Size()))
            elif buffer.DataLength():
                start = buffer._tab.Vector(buffer._tab.Offset(4))
                self._check_span(start, buffer.DataLength(), f"buffer {i}")
                self._buffers.append((start, buffer.DataLength()))
            else:
                self._buffers.append(None)
        self.tensors = []
        for i in range(graph.TensorsLength()):
            t = graph.Tensors(i)
            self._check_span(t._tab.Pos, 4, f"tensor {i}")
            quantization = None
            q = t.Quantization()
            if q is not None and q.ScaleLength():
                scales = q.ScaleAsNumpy().astype(np.float32)
                zero_points = (q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength()
                               else np.zeros(len(scales), np.int64))
                quantization = Quantization(scales, zero_points, q.QuantizedDimension())
            shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
            name = (t.Name() or b"").decode()
            if t.Buffer() >= len(self._buffers):  # else it would pass for an activation, silently
                raise TFLiteError(f"{self.path}: tensor {i} {name!r} names buffer {t.Buffer()} of "
                                  f"{len(self._buffers)}: corrupt")
            self.tensors.append(Tensor(i, name, shape, t.Type(), t.Buffer(), quantization))
        self.operators = []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = (code.CustomCode() or b"").decode() or operator_names.get(builtin, f"OP{builtin}")
            inputs = tuple(int(j) for j in op.InputsAsNumpy()) if op.InputsLength() else ()
            outputs = tuple(int(j) for j in op.OutputsAsNumpy()) if op.OutputsLength() else ()
            for j in (*inputs, *outputs):
                if j >= len(self.tensors):
                    raise TFLiteError(f"{self.path}: operator {i} ({name}) names tensor {j} of {len(self.tensors)}")
            self.operators.append(Operator(name, inputs, outputs))
        self.producer = {j: op for op in self.operators for j in op.outputs}

    def is_constant(self, index):
        buffer = self.tensors[index].buffer
        return self._buffers[buffer] is not None

    def raw(self, index):
        """The stored values of constant tensor `index` (its own dtype and shape)."""
        tensor = self.tensors[index]
        if not self.is_constant(index):
            raise TFLiteError(f"{self.path}: tensor {tensor.name!r} is not a constant")
        if tensor.type not in _STORED_DTYPES:
            raise TFLiteError(f"{self.path}: tensor {tensor.name!r} has unsupported type {tensor.type}")
        dtype = np.dtype(_STORED_DTYPES[tensor.type]).newbyteorder("<")
        start, length = self._buffers[tensor.buffer]
        count = int(np.prod(tensor.shape, dtype=np.int64))
        if length != count * dtype.itemsize:
            raise TFLiteError(f"{self.path}: tensor {tensor.name!r} of shape {tensor.shape} needs "
                              f"{count * dtype.itemsize} bytes, its buffer has {length}")
        return np.frombuffer(self._data, dtype, count, start).reshape(tensor.shape)

    def constant(self, index):
        """Constant tensor `index` as float32: float16 cast, integers dequantized with their
        (per-channel) scales and zero points."""
        tensor = self.tensors[index]
        values = self.raw(index)
        if tensor.type not in _INTEGER_TYPES:
            return values.astype(np.float32)
        q = tensor.quantization
        if q is None and tensor.type == 2:  # plain int32 (sizes, paddings, axes)
            return values.astype(np.float32)
        if q is None:
            raise TFLiteError(f"{self.path}: integer tensor {tensor.name!r} has no quantization parameters")
        if len(q.scales) != len(q.zero_points):
            raise TFLiteError(f"{self.path}: tensor {tensor.name!r}: {len(q.scales)} scales but "
                              f"{len(q.zero_points)} zero points")
        scales, zero_points = q.scales.astype(np.float64), q.zero_points
        if len(scales) > 1:
            if not 0 <= q.axis < len(tensor.shape) or tensor.shape[q.axis] != len(scales):
                raise TFLiteError(f"{self.path}: tensor {tensor.name!r} of shape {tensor.shape} has "
                                  f"{len(scales)} scales along dimension {q.axis}")
            shape = [1] * len(tensor.shape)
            shape[q.axis] = -1
            scales, zero_points = scales.reshape(shape), zero_points.reshape(shape)
        return ((values.astype(np.int64) - zero_points) * scales).astype(np.float32)

    def constant_source(self, index):
        """The constant behind tensor `index`: itself, or the constant a DEQUANTIZE op
        turns into it (float16 files keep their weights so); None when it is computed."""
        if self.is_constant(index):
            return index
        op = self.producer.get(index)
        if op is not None and op.opcode == "DEQUANTIZE" and self.is_constant(op.inputs[0]):
            return op.inputs[0]
        return None

    def constants(self):
        """{index: Tensor} of every constant tensor."""
        return {t.index: t for t in self.tensors if self.is_constant(t.index)}
