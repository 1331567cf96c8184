"""Exact tiled execution of a generator: full-resolution images in bounded memory.

Cutting an image into tiles and running the generator on each gives seams: every instance
norm would use the statistics of its tile, and every convolution would see a made-up
border. Here the generator's own Keras graph is executed tile by tile, layer by layer,
so that the result equals whole-image inference:

- An instance norm needs the mean and variance of the *whole* map it normalises. The graph
  is run in passes, one per instance norm (in topological order): a pass streams over the
  tiles of that norm's input map, computing each tile from what is already known (the
  image, maps stored by earlier passes, the statistics of earlier norms), and accumulates
  per-channel count/mean/M2 in float64 (Chan's parallel formula). The last pass computes
  the output.
- Each tile is computed on the region its receptive field needs: the regions are
  propagated backwards through the graph layer by layer (convolutions, transposed
  convolutions, crops, bilinear upsampling, padding), so a tile carries exactly the halo
  it needs, and padding (reflection or zeros) is applied only where the region meets the
  map's true border. Tensors consumed by several layers are computed once on the union.
- Instance-norm inputs and residual sums of at most `store_values_per_pixel` values per
  input pixel are written once to a temporary file with os.pwrite and read back with
  os.pread, in their own dtype (so bfloat16 maps stay bfloat16, bit for bit): the page
  cache holds them, not the process (np.memmap pages would count in its resident set).
  Everything else is recomputed, tile by tile, from the nearest stored map. A stored map
  is deleted after the last pass that reads it. A residual sum is written by the pass
  after it (the next norm's), which computes it on the way: the full generator runs in 22
  passes (21 norms and the output).

Each pass is one traced TensorFlow function (`_Pass`) run on every tile of the pass: the
tile's size and where it meets the border (padding indices, slice offsets) enter as
tensors, so a pass is traced once, the layers run as one graph (no eager op-by-op
execution), and the pass returns the tile's moments with the tile, so Python touches a
map only to store it.

The generator's layers are called as they are (their weights, dtype policies, and
`InstanceNormalization.normalize` for the statistics), so the network keeps its one
definition; a layer this module does not know makes `TiledGenerator` raise
`NotTileableError`.
"""

import functools
import math
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from cartoongan.models.layers import (
    ChannelShuffle,
    ChannelSplit,
    CropTopLeft,
    GuidedFilter,
    InstanceNormalization,
    LegacyBilinearUpsampling2D,
    ReflectionPadding2D,
)
from cartoongan.models.photo_path import InkFeatures, MedianFilter

# Maps with at most this many values per pixel of the input image are stored rather than
# recomputed: with 64, every instance-norm input and residual sum of the full generator
# (256 channels at 1/4 resolution: 16; 128 at 1/2: 32; 64 at full resolution: 64), so
# each convolution runs once but for the halos. Stored maps live in the page cache (a
# bfloat16 full-resolution 64-channel map of a 12 MP photo: 1.5 GB of file), not in the
# process; 32 would recompute the stem and the last upsampling block instead (~8% more
# multiply-adds).
DEFAULT_STORE_VALUES_PER_PIXEL = 64

# Layers that act on each pixel on its own (regions pass through unchanged).
_POINTWISE = (
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.Activation,
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Multiply,
    keras.layers.Concatenate,
    keras.layers.Rescaling,
    keras.layers.BatchNormalization,  # inference: its moving statistics
    ChannelShuffle,
    ChannelSplit,
)


class NotTileableError(ValueError):
    """The generator has a layer whose tiling this module does not know."""


# --------------------------------------------------------------------------------------
# Per-layer geometry. Along each spatial axis: `size(n)` is the output length for an
# input of length n; `needs(o0, o1, n)` is the input interval [i0, i1) the output interval
# [o0, o1) depends on; `apply(x, i0, o0, o1, n, axis)` turns the values on [i0, i1) into
# the values on [o0, o1) for layers that are not simply called.


def _ceil_div(a, b):
    return -(-a // b)


def _reflect(index, n):
    index = np.abs(index)
    return np.where(index >= n, 2 * (n - 1) - index, index)


class _Op:
    """How one layer of the graph runs on a region."""

    def __init__(self, layer):
        self.layer = layer

    def size(self, n, axis):
        return n

    def needs(self, o0, o1, n, axis):
        return o0, o1

    def geometry(self, in_regions, out_region, in_sizes):
        """The numbers (numpy arrays) `apply` needs for one tile, computed in Python: they
        enter the traced pass as tensors, so one trace serves every tile."""
        return []

    def apply(self, inputs, geometry, statistics):
        """The layer on a region (inside the traced pass): the tensor of its one input, or the
        list of its several (GuidedFilter's [guide, image])."""
        return self.layer(list(inputs)) if len(inputs) > 1 else self.layer(inputs[0])


class _Pointwise(_Op):
    def apply(self, inputs, geometry, statistics):
        if isinstance(self.layer, (keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply,
                                   keras.layers.Concatenate)):
            return self.layer(list(inputs))
        return self.layer(inputs[0])


def _autocast(layer, x):
    dtype = layer.compute_dtype
    if layer.autocast and x.dtype.is_floating and x.dtype != tf.as_dtype(dtype):
        return tf.cast(x, dtype)
    return x


class _Padding(_Op):
    """ReflectionPadding2D / ZeroPadding2D: the padding exists only at the map's border."""

    def __init__(self, layer, pads, reflect):
        super().__init__(layer)
        self.pads = pads  # ((top, bottom), (left, right))
        self.reflect = reflect

    def size(self, n, axis):
        before, after = self.pads[axis]
        return n + before + after

    def _sources(self, o0, o1, n, axis):
        index = np.arange(o0, o1) - self.pads[axis][0]
        if self.reflect:
            return _reflect(index, n), None
        return np.clip(index, 0, n - 1), (index >= 0) & (index < n)

    def needs(self, o0, o1, n, axis):
        sources, _ = self._sources(o0, o1, n, axis)
        return int(sources.min()), int(sources.max()) + 1

    def geometry(self, in_regions, out_region, in_sizes):
        # Per axis: is the region away from the border (the halo is the padding), the
        # source index of every output row (relative to the input region), and for zero
        # padding which rows are real.
        result = []
        for axis in (0, 1):
            o0, o1 = out_region[axis]
            sources, valid = self._sources(o0, o1, in_sizes[axis], axis)
            sources = sources - in_regions[0][axis][0]
            inside = (valid is None or valid.all()) and np.array_equal(sources, np.arange(len(sources)))
            result += [np.array(inside), sources.astype(np.int32)]
            if not self.reflect:
                result.append((np.ones(len(sources)) if valid is None else valid).astype(np.float32))
        return result

    def apply(self, inputs, geometry, statistics):
        x = _autocast(self.layer, inputs[0])
        per_axis = 2 if self.reflect else 3
        for axis in (0, 1):
            inside, sources, *valid = geometry[per_axis * axis:per_axis * (axis + 1)]

            def padded(x=x, sources=sources, valid=valid, axis=axis):
                y = tf.gather(x, sources, axis=axis + 1)
                if valid:
                    shape = [1, 1, 1, 1]
                    shape[axis + 1] = -1
                    y = y * tf.cast(tf.reshape(valid[0], shape), y.dtype)
                return y

            channels = x.shape[-1]
            x = tf.cond(inside, lambda x=x: tf.identity(x), padded)
            x.set_shape([None, None, None, channels])
        return x


class _Conv(_Op):
    """Conv2D / DepthwiseConv2D (any stride, no dilation). A "same"-padded layer runs as its
    "valid" twin (same weights and dtype policy) after zero padding at the true border."""

    def __init__(self, layer):
        super().__init__(layer)
        if tuple(layer.dilation_rate) != (1, 1):
            raise NotTileableError(f"{layer.name}: dilated convolutions are not supported")
        self.kernel = tuple(layer.kernel_size)
        self.strides = tuple(layer.strides)
        self.same = layer.padding == "same"
        self.valid_layer = layer
        if self.same:
            twin = layer.__class__.from_config({**layer.get_config(), "padding": "valid", "name": layer.name + "_valid"})
            twin.build(layer.input.shape)
            twin.set_weights(layer.get_weights())
            self.valid_layer = twin

    def _pad_before(self, n, axis):
        k, s = self.kernel[axis], self.strides[axis]
        if not self.same:
            return 0
        total = max((_ceil_div(n, s) - 1) * s + k - n, 0)
        return total // 2

    def size(self, n, axis):
        k, s = self.kernel[axis], self.strides[axis]
        return _ceil_div(n, s) if self.same else (n - k) // s + 1

    def _window(self, o0, o1, n, axis):
        k, s = self.kernel[axis], self.strides[axis]
        before = self._pad_before(n, axis)
        return s * o0 - before, s * (o1 - 1) + k - before  # input rows, may overhang [0, n)

    def needs(self, o0, o1, n, axis):
        w0, w1 = self._window(o0, o1, n, axis)
        return max(w0, 0), min(w1, n)

    def geometry(self, in_regions, out_region, in_sizes):
        if not self.same:
            return []
        pads = np.zeros((4, 2), np.int32)
        for axis in (0, 1):
            w0, w1 = self._window(*out_region[axis], in_sizes[axis], axis)
            pads[axis + 1] = [max(0, -w0), max(0, w1 - in_sizes[axis])]
        return [pads]

    def apply(self, inputs, geometry, statistics):
        x = inputs[0]
        if self.same:
            x = tf.pad(_autocast(self.valid_layer, x), geometry[0])
        return self.valid_layer(x)


class _ConvTranspose(_Op):
    """Conv2DTranspose with "valid" padding: output o gets input i for 0 <= o - s*i < k."""

    def __init__(self, layer):
        super().__init__(layer)
        if layer.padding != "valid" or layer.output_padding is not None or tuple(layer.dilation_rate) != (1, 1):
            raise NotTileableError(f"{layer.name}: only 'valid' transposed convolutions are supported")
        self.kernel = tuple(layer.kernel_size)
        self.strides = tuple(layer.strides)

    def size(self, n, axis):
        return (n - 1) * self.strides[axis] + self.kernel[axis]

    def needs(self, o0, o1, n, axis):
        k, s = self.kernel[axis], self.strides[axis]
        return max(0, _ceil_div(o0 - k + 1, s)), min(n, (o1 - 1) // s + 1)

    def geometry(self, in_regions, out_region, in_sizes):
        return _output_window(in_regions, out_region, self.strides)

    def apply(self, inputs, geometry, statistics):
        return tf.slice(self.layer(inputs[0]), *geometry)


def _output_window(in_regions, out_region, strides):
    """tf.slice (begin, size) of the output region inside the output of an upsampling layer
    (stride `strides`) run on the input region."""
    (r0, r1), (c0, c1) = out_region
    (i0, _), (j0, _) = in_regions[0]
    begin = np.array([0, r0 - strides[0] * i0, c0 - strides[1] * j0, 0], np.int32)
    return [begin, np.array([-1, r1 - r0, c1 - c0, -1], np.int32)]


class _CropTopLeft(_Op):
    def size(self, n, axis):
        return n - 1

    def needs(self, o0, o1, n, axis):
        return o0 + 1, o1 + 1

    def apply(self, inputs, geometry, statistics):
        return _autocast(self.layer, inputs[0])


class _Upsample(_Op):
    """LegacyBilinearUpsampling2D: out[2i] = in[i], out[2i+1] = (in[i] + in[i+1]) / 2, the
    last input row repeated at the true border only."""

    def size(self, n, axis):
        return 2 * n

    def needs(self, o0, o1, n, axis):
        return o0 // 2, min(n, (o1 - 1) // 2 + 2)

    def geometry(self, in_regions, out_region, in_sizes):
        return _output_window(in_regions, out_region, (2, 2))

    def apply(self, inputs, geometry, statistics):
        return tf.slice(self.layer(inputs[0]), *geometry)


def _has_statistics(layer):
    """A layer that normalises with statistics of the whole map, as InstanceNormalization
    does: `moments(x)` (float32 tensors: (mean, variance) pairs, or whatever the layer's
    `merge_moments(first, second)` combines) and `normalize(x, *statistics)`."""
    return callable(getattr(layer, "moments", None)) and callable(getattr(layer, "normalize", None))


class _Norm(_Op):
    """InstanceNormalization and its subclasses (AnimeGANv2's layer norm over H, W and C), and
    any layer with whole-map statistics (`_has_statistics`): the whole map's statistics,
    streamed by the pass before, through the layer's `normalize`."""

    def apply(self, inputs, geometry, statistics):
        return self.layer.normalize(inputs[0], *statistics[self.layer.name])


class _Local(_Op):
    """A layer whose output pixel depends on the `halo` pixels around it, handling the map's
    border itself: GuidedFilter([guide, image]) (two box filters of radius r in a row: 2r;
    its windows are clipped at the edges), InkFeatures and MedianFilter (their HALO; reflected
    at the edges).
    The layer runs on the region clipped to the map, whose edges are the map's only where
    the region meets them (exactly the whole image's there), and the halo is sliced off."""

    def __init__(self, layer, halo):
        super().__init__(layer)
        self.halo = halo

    def needs(self, o0, o1, n, axis):
        return max(0, o0 - self.halo), min(n, o1 + self.halo)

    def geometry(self, in_regions, out_region, in_sizes):
        return _output_window(in_regions, out_region, (1, 1))

    def apply(self, inputs, geometry, statistics):
        return tf.slice(super().apply(inputs, geometry, statistics), *geometry)


def _make_op(layer):
    if isinstance(layer, InstanceNormalization) or _has_statistics(layer):
        return _Norm(layer)
    if isinstance(layer, ReflectionPadding2D):
        return _Padding(layer, layer.pads, reflect=True)
    if isinstance(layer, GuidedFilter):
        return _Local(layer, 2 * layer.radius)
    if isinstance(layer, InkFeatures):
        return _Local(layer, InkFeatures.HALO)
    if isinstance(layer, MedianFilter):
        return _Local(layer, layer.HALO)
    if isinstance(layer, keras.layers.ZeroPadding2D):
        if layer.data_format != "channels_last":
            raise NotTileableError(f"{layer.name}: channels_last only")
        return _Padding(layer, tuple(tuple(p) for p in layer.padding), reflect=False)
    if isinstance(layer, keras.layers.Conv2DTranspose):
        return _ConvTranspose(layer)
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
        if layer.data_format != "channels_last":
            raise NotTileableError(f"{layer.name}: channels_last only")
        return _Conv(layer)
    if isinstance(layer, CropTopLeft):
        return _CropTopLeft(layer)
    if isinstance(layer, LegacyBilinearUpsampling2D):
        return _Upsample(layer)
    if isinstance(layer, _POINTWISE):
        if isinstance(layer, keras.layers.Concatenate) and layer.axis not in (-1, 3):
            raise NotTileableError(f"{layer.name}: concatenation along a spatial axis")
        return _Pointwise(layer)
    raise NotTileableError(f"{layer.name}: {type(layer).__name__} layers cannot be tiled exactly")


# --------------------------------------------------------------------------------------
# The graph.


class _Node:
    def __init__(self, keras_node, op):
        self.keras_node = keras_node
        self.op = op
        self.inputs = [id(t) for t in keras_node.input_tensors]
        self.outputs = [id(t) for t in keras_node.outputs]


class _MapStore:
    """One feature map (batch 1, HWC) in a temporary file, written and read by region with
    pwrite/pread: the data lives in the page cache, not in the process's memory."""

    def __init__(self, height, width, channels, dtype, directory=None):
        self.height, self.width, self.channels = height, width, channels
        self.dtype = np.dtype(dtype)
        self.pixel_bytes = channels * self.dtype.itemsize
        self._file = tempfile.TemporaryFile(dir=directory, prefix="cartoongan-tile-")
        self._fd = self._file.fileno()

    def write(self, region, array):
        (r0, r1), (c0, c1) = region
        array = np.ascontiguousarray(array.reshape(r1 - r0, c1 - c0, self.channels).astype(self.dtype, copy=False))
        for row in range(r0, r1):
            offset = (row * self.width + c0) * self.pixel_bytes
            data = memoryview(array[row - r0].view(np.uint8).reshape(-1))
            while data:
                written = os.pwrite(self._fd, data, offset)
                data, offset = data[written:], offset + written

    def read(self, region):
        (r0, r1), (c0, c1) = region
        out = np.empty((r1 - r0, c1 - c0, self.channels), self.dtype)
        length = (c1 - c0) * self.pixel_bytes
        for row in range(r0, r1):
            view = memoryview(out[row - r0].view(np.uint8).reshape(-1))
            offset, done = (row * self.width + c0) * self.pixel_bytes, 0
            while done < length:
                n = os.preadv(self._fd, [view[done:]], offset + done)
                if n <= 0:
                    raise OSError(f"short read from the tile store at row {row}")
                done += n
        return out[None]

    def close(self):
        self._file.close()


def _union(a, b):
    if a is None:
        return b
    return tuple((min(x0, y0), max(x1, y1)) for (x0, x1), (y0, y1) in zip(a, b))


def _split(length, tile):
    count = max(1, _ceil_div(length, max(1, tile)))
    edges = [round(i * length / count) for i in range(count + 1)]
    return [(edges[i], edges[i + 1]) for i in range(count)]


class TiledGenerator:
    """Runs a single-input, single-output generator (NHWC, any size) on one image tile by
    tile, with the result of whole-image inference.

    `tile_size`: tile side in pixels of the input (maps at 1/4 resolution get tiles of a
    quarter of it). `store_values_per_pixel`: maps up to this size per input pixel are
    stored instead of recomputed (see the module docstring). `temp_dir`: where the stored
    maps go (default: the system's temporary folder).
    """

    def __init__(self, generator, tile_size=512, store_values_per_pixel=DEFAULT_STORE_VALUES_PER_PIXEL,
                 temp_dir=None):
        if len(generator.inputs) != 1 or len(generator.outputs) != 1:
            raise NotTileableError("only single-input, single-output generators can be tiled")
        self.generator = generator
        self.tile_size = int(tile_size)
        if self.tile_size < 8:
            raise ValueError(f"tile_size must be at least 8 pixels, not {tile_size}")
        self.store_values_per_pixel = store_values_per_pixel
        self.temp_dir = temp_dir
        # {norm layer name: (mean, variance)} used instead of the whole image's statistics
        # (no statistics passes): only for measuring approximations, such as statistics
        # estimated on a downscaled copy (benchmarks/full_resolution.py).
        self.fixed_statistics = None
        self.input_id = id(generator.inputs[0])
        self.output_id = id(generator.outputs[0])
        self.nodes = []  # topological order
        self.producer = {}  # tensor id -> _Node
        self.channels = {}
        for depth in sorted(generator._nodes_by_depth, reverse=True):
            for keras_node in generator._nodes_by_depth[depth]:
                if keras_node.is_input or not keras_node.operation:
                    continue
                if len(keras_node.operation._inbound_nodes) != 1:
                    raise NotTileableError(f"{keras_node.operation.name}: shared layers are not supported")
                node = _Node(keras_node, _make_op(keras_node.operation))
                self.nodes.append(node)
                for tensor in keras_node.outputs:
                    self.producer[id(tensor)] = node
                    self.channels[id(tensor)] = tensor.shape[-1]
        self._programs = {}  # traced passes, kept for the next image
        self.consumers = {}
        for node in self.nodes:
            for tensor in node.inputs:
                self.consumers.setdefault(tensor, []).append(node)

    # ---- sizes

    def map_sizes(self, height, width):
        """Spatial size of every tensor of the graph for a (height, width) input."""
        sizes = {self.input_id: (height, width)}
        for node in self.nodes:
            h, w = sizes[node.inputs[0]]
            for tensor in node.outputs:
                sizes[tensor] = (node.op.size(h, 0), node.op.size(w, 1))
        return sizes

    # ---- planning

    def _schedule(self, sizes):
        """The stored maps and the passes: (target, norm or None, extras) in topological
        order. A pass computes its target (a norm's input, a map to store, or the output);
        `extras` are stored maps it writes on the way (see below)."""
        pixels = sizes[self.input_id][0] * sizes[self.input_id][1]
        stored = set()
        for node in self.nodes:
            candidates = []
            if isinstance(node.op, _Norm):
                candidates.append(node.inputs[0])
            if len(node.inputs) > 1:  # residual sums, concatenations (not the output: the last pass writes it)
                candidates += node.outputs
            for tensor in candidates:
                h, w = sizes[tensor]
                if tensor not in (self.input_id, self.output_id) and h * w * self.channels[tensor] <= self.store_values_per_pixel * pixels:
                    stored.add(tensor)
        # A norm's input is stored by the pass that computes its statistics.
        norm_inputs = set() if self.fixed_statistics else {
            node.inputs[0] for node in self.nodes if isinstance(node.op, _Norm)}
        passes, seen = [], set()
        for node in self.nodes:
            if isinstance(node.op, _Norm) and not self.fixed_statistics:
                tensor = node.inputs[0]
                passes.append((tensor, node))
                seen.add(tensor)
            for tensor in node.outputs:
                if tensor in stored and tensor not in seen and tensor not in norm_inputs:
                    passes.append((tensor, None))
                    seen.add(tensor)
        passes.append((self.output_id, None))
        # A map stored for later passes but no norm's input (a residual sum) needs no pass of
        # its own when the next pass computes it anyway: that pass writes it on its tiles if
        # it has the target's size, and else it is not stored at all (the pass that needs
        # it computes it; any later one would recompute it from stored maps).
        merged, produced, pending = [], set(), None
        for target, norm in passes:
            if pending is not None:
                if pending in self._closure(target, produced)[1]:
                    if sizes[pending] == sizes[target]:
                        merged.append((target, norm, (pending,)))
                        produced.add(pending)
                    else:
                        merged.append((target, norm, ()))
                        stored.discard(pending)
                    pending = None
                    produced.update({target} & stored)
                    continue
                merged.append((pending, None, ()))
                produced.add(pending)
                pending = None
            if norm is None and target != self.output_id:
                pending = target
                continue
            merged.append((target, norm, ()))
            produced.update({target} & stored)
        return stored, merged

    def _closure(self, target, available):
        """(the maps a pass over `target` reads: available ones and the input, the tensors
        it computes)."""
        sources, computed, stack = set(), set(), [target]
        while stack:
            tensor = stack.pop()
            if tensor in sources or tensor in computed:
                continue
            if tensor in available or tensor == self.input_id:
                sources.add(tensor)
                continue
            computed.add(tensor)
            stack += self.producer[tensor].inputs
        return sources, computed

    def _plan(self, target, region, available, sizes):
        """Regions every tensor needs for `target` on `region` (bounding box over consumers)."""
        need = {target: region}
        for node in reversed(self.nodes):
            outs = [need[t] for t in node.outputs if t in need]
            if not outs or any(t in available for t in node.outputs):
                continue
            out = outs[0]
            for other in outs[1:]:
                out = _union(out, other)
            for t in node.outputs:
                need[t] = out
            for t in node.inputs:
                h, w = sizes[t]
                needed = (node.op.needs(*out[0], h, 0), node.op.needs(*out[1], w, 1))
                need[t] = _union(need.get(t), needed)
        return need

    def _program(self, target, norm, extras, available):
        """The traced pass that computes `target` (and `extras`) tile by tile from
        `available` maps."""
        sources, computed = self._closure(target, available)
        key = (target, frozenset(sources), norm is not None, extras)
        if key not in self._programs:
            self._programs[key] = _Pass(self, target, norm, extras, sources, computed)
        return self._programs[key]

    # ---- running

    def __call__(self, read_input, height, width, write_output, progress=None):
        """Runs the generator on a (height, width) input.

        `read_input(region)` -> float32 [1, h, w, 3] of the input on region
        ((r0, r1), (c0, c1)); `write_output(region, y)` receives the output, tile by tile,
        on a partition of the output map (whose size is `output_size`).
        `progress(done, total, pass_number, passes)`, if given, is called after every tile:
        `done` of `total` tiles over all passes, in pass `pass_number` (from 1) of `passes`."""
        sizes = self.map_sizes(height, width)
        stored, passes = self._schedule(sizes)
        grids = []  # each pass's (row ranges, column ranges): tiles of about tile_size input pixels
        for target, _, _ in passes:
            h, w = sizes[target]
            tile = max(8, round(self.tile_size * math.sqrt(h * w / (height * width))))
            grids.append((_split(h, tile), _split(w, tile)))
        done, total = 0, sum(len(rows) * len(cols) for rows, cols in grids)
        available = set()
        last_use, produced = {}, set()
        for index, (target, _, extras) in enumerate(passes):
            for source in self._closure(target, produced)[0]:
                last_use[source] = index
            produced.update({target, *extras} & stored)
        stores = {}
        statistics = dict(self.fixed_statistics or {})  # norm layer name -> (mean, variance)
        try:
            for index, (target, norm, extras) in enumerate(passes):
                h, w = sizes[target]
                program = self._program(target, norm, extras, available)
                accumulated = _Statistics(norm.op.layer) if norm is not None else None
                row_ranges, col_ranges = grids[index]
                for rows in row_ranges:
                    for cols in col_ranges:
                        region = (rows, cols)
                        need = self._plan(target, region, available, sizes)
                        y, *rest = program(need, region, sizes, read_input, stores, statistics)
                        if norm is not None:
                            accumulated.add(y, rest[0])
                            rest = rest[1:]
                        for tensor, value in zip((target, *extras), (y, *rest)):
                            if tensor in stored:
                                if tensor not in stores:
                                    stores[tensor] = _MapStore(h, w, value.shape[-1], value.dtype.as_numpy_dtype,
                                                               self.temp_dir)
                                stores[tensor].write(region, value.numpy())
                        del rest
                        if target == self.output_id:
                            write_output(region, y)
                        del y
                        done += 1
                        if progress is not None:
                            progress(done, total, index + 1, len(passes))
                if norm is not None:
                    statistics[norm.op.layer.name] = accumulated.result()
                available.update({target, *extras} & stored)
                for source, last in list(last_use.items()):
                    if last == index and source in stores:
                        stores.pop(source).close()
                        available.discard(source)
        finally:
            for store in stores.values():
                store.close()
        return sizes[self.output_id]


class _Pass:
    """One pass: the layers between the maps it reads (the input, stored maps) and its
    target, as one traced TensorFlow function for every tile of the pass (tile sizes and
    border handling enter as tensors, so it is traced once). It returns the target on the
    tile and, when the target is a norm's input, the tile's float32 moments (the norm
    layer's own `moments`), so Python touches each map only to store it."""

    def __init__(self, tiler, target, norm, extras, sources, computed):
        self.tiler = tiler
        self.target = target
        self.norm = norm
        self.extras = extras  # maps of the target's size written on the target's tiles
        order = [tiler.input_id] + [t for node in tiler.nodes for t in node.outputs]
        self.sources = [t for t in order if t in sources]
        self.nodes = [node for node in tiler.nodes if any(t in computed for t in node.outputs)]
        self.norm_names = [node.op.layer.name for node in self.nodes if isinstance(node.op, _Norm)]
        self.function = None

    def geometry(self, need, region, sizes):
        extras = []
        for tensor in self.extras:
            have = need[tensor]
            if any(h0 > r0 or h1 < r1 for (h0, h1), (r0, r1) in zip(have, region)):
                raise RuntimeError("a merged pass does not compute its extra map on the whole tile")
            extras.append([np.array([0, region[0][0] - have[0][0], region[1][0] - have[1][0], 0], np.int32),
                           np.array([-1, region[0][1] - region[0][0], region[1][1] - region[1][0], -1], np.int32)])
        geometry = []
        for node in self.nodes:
            out = need[node.outputs[0]]
            slices, in_regions = [], []
            for t in node.inputs:
                h, w = sizes[t]
                wanted = (node.op.needs(*out[0], h, 0), node.op.needs(*out[1], w, 1))
                have = need[t]
                begin = [0, wanted[0][0] - have[0][0], wanted[1][0] - have[1][0], 0]
                size = [-1, wanted[0][1] - wanted[0][0], wanted[1][1] - wanted[1][0], -1]
                slices.append([np.array(begin, np.int32), np.array(size, np.int32)])
                in_regions.append(wanted)
            geometry.append([slices, node.op.geometry(in_regions, out, sizes[node.inputs[0]])])
        return [geometry, extras]

    def _shaped(self, x, tensor):
        # Dynamic slices lose the static shape; layers need the channel count.
        x.set_shape([1, None, None, self.tiler.channels.get(tensor, 3)])
        return x

    def _run(self, sources, statistics, geometry):
        geometry, extras = geometry
        values = dict(zip(self.sources, sources))
        statistics = dict(zip(self.norm_names, statistics))
        for node, (slices, op_geometry) in zip(self.nodes, geometry):
            inputs = [self._shaped(tf.slice(values[t], begin, size), t) for t, (begin, size) in zip(node.inputs, slices)]
            result = node.op.apply(inputs, op_geometry, statistics)
            for t, y in zip(node.outputs, result if isinstance(result, (list, tuple)) else [result]):
                values[t] = self._shaped(y, t)
        y = values[self.target]
        outputs = [y] if self.norm is None else [y, list(self.norm.op.layer.moments(y))]
        return outputs + [tf.slice(values[t], begin, size) for t, (begin, size) in zip(self.extras, extras)]

    def __call__(self, need, region, sizes, read_input, stores, statistics):
        sources = [read_input(need[t]) if t == self.tiler.input_id else stores[t].read(need[t])
                   for t in self.sources]
        stats = [list(statistics[name]) for name in self.norm_names]
        geometry = self.geometry(need, region, sizes)
        if self.function is None:
            spec = lambda a: tf.TensorSpec([None] * len(a.shape), tf.as_dtype(a.dtype))
            signature = [
                [tf.TensorSpec((1, None, None, s.shape[-1]), tf.as_dtype(s.dtype)) for s in sources],
                tf.nest.map_structure(lambda a: tf.TensorSpec(a.shape, tf.float32), stats),
                tf.nest.map_structure(spec, geometry),
            ]
            # A partial, not the bound method: TensorFlow counts traces per code object, so
            # the ~22 passes (each traced once) looked like one function retraced ("6 out of
            # the last 6 calls ... triggered tf.function retracing"); a real retrace of one
            # pass is still reported.
            self.function = tf.function(functools.partial(self._run), input_signature=signature)
        return self.function(sources, stats, geometry)


class _Statistics:
    """A norm's whole-map statistics, accumulated tile by tile from the tiles' float32
    `moments`: by the layer's `merge_moments(first, second)` when it has one (statistics that
    are not means and variances, such as a softmax's maximum and sum), else as (mean,
    variance) pairs combined per channel in float64 (Chan's parallel formula)."""

    def __init__(self, layer):
        self.layer = layer
        self.merge = getattr(layer, "merge_moments", None)
        self.count, self.values = 0, None

    def add(self, y, moments):
        moments = [m.numpy().astype(np.float64) for m in moments]
        if self.merge is not None:
            self.values = moments if self.values is None else list(self.merge(self.values, moments))
            return
        count = int(np.prod(y.shape[1:3])) * (1 if getattr(self.layer, "per_channel", True) else int(y.shape[-1]))
        pairs = [(moments[i], moments[i + 1] * count) for i in range(0, len(moments), 2)]  # (mean, M2)
        if self.values is None:
            self.count, self.values = count, pairs
            return
        total = self.count + count
        combined = []
        for (mean, m2), (tile_mean, tile_m2) in zip(self.values, pairs):
            delta = tile_mean - mean
            combined.append((mean + delta * (count / total), m2 + tile_m2 + delta * delta * (self.count * count / total)))
        self.count, self.values = total, combined

    def result(self):
        """The statistics as the layer's `normalize` takes them (float32 tensors)."""
        flat = self.values if self.merge is not None else [v for mean, m2 in self.values for v in (mean, m2 / self.count)]
        return tuple(tf.constant(v, tf.float32) for v in flat)
