"""The photo path: what lets a CartoonGAN-family generator see the photo's own colours.

The stem of these generators is conv -> instance norm, and the norm takes each image's mean
and scale away: the network never sees how bright or how coloured its input is, so it cannot
keep the photo's colours, nor map them (sepia, posterized levels) once fine-tuned; measured
on hayao_lite, a per-channel a*photo+b changes its output by under 4e-6. The path adds two
convolutions of the photo itself, each zero-initialised so that a pretrained generator is
unchanged when the path is added (fine-tuning starts exactly at the preset):
- after the stem norm, a conv of the (padded) photo: the whole network sees absolute values;
- before the final tanh, a 1x1 conv of the photo blurred by a fixed 3x3 binomial kernel:
  colours pass straight through, but not the photo's pixel-period texture (the kernel's
  response at the 2-pixel period is exactly 0). With the raw photo there, fine-tunes copy
  its fine texture (the photos have more checkerboard than hayao_lite's outputs; measured
  in docs/learning.md). With `photo_path_median` N, the photo's N x N median is blurred
  instead: the colours come through flat, edges in place, the photo's texture left out
  (what a fine-tune's unpaired losses did not learn to remove; docs/learning.md).
Each is scaled by a fixed gain: Adam moves a weight by about the learning rate a step
whatever its scale, so the gain is a larger rate for these few weights only (a 1x1 pass
through needs weights near 1, which 1e-4 a step would take 10 000 steps to reach). The gain
travels in the generator's config (`photo_path_gain`; cartoongan.models holds the
default of new paths and the legacy one of presets saved without it).

The ink path (`ink_path` 1 or 2) is a third one, for lines: before the tanh, a zero-initialised
1x1 conv of InkFeatures (the photo's edges thinned to one pixel across, above a few contrast
thresholds), so that fine-tuning learns whether and how dark a style draws the photo's
edges. The network itself does not learn thin lines in a fine-tune's few hundred steps: asked
for them by the line loss it draws dotted strokes (its stride-2 upsampling); docs/learning.md.
With `ink_path=2` (soft) the features are blurred by the fixed 3x3 binomial kernel first: lines
3 pixels across with soft sides, whose pixel-period response is a fraction of one-pixel lines'
(the checkerboard loss holds those to the strongest edges; docs/learning.md measures both).

The network's own share of the output (`with_output_parts`) is what its last convolution adds
before the tanh, beside these paths: training can weigh it (`--body-weight`), so that the
network draws what the losses ask for over the paths' rendering instead of re-drawing the
photo (docs/learning.md).

Sizes: the head conv adds the photo at the output's size, so a photo-path generator takes
multiples of 4 (the Cartoonizer pads to that; the networks without the path round up).
"""

import inspect

import keras
import numpy as np
from keras import ops

from cartoongan.models import INK_PATHS, MEDIAN_SIZES, PHOTO_PATH_GAIN, PHOTO_PATH_MEDIAN
from cartoongan.models.layers import ReflectionPadding2D

_BINOMIAL = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0
_SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0  # levels a pixel
# Contrast thresholds of the ink features (levels of 0..255 a pixel) and their scale: an
# edge of 32 levels a pixel gives a feature of about 1.
INK_THRESHOLDS = (2.0, 5.0, 10.0, 20.0)
_INK_SCALE = 32.0
_TAN_22_5 = 0.41421356  # |gy| / |gx| under which a gradient counts as horizontal


def _filter3x3(x, kernel):
    """[B, H, W, 1] filtered by a fixed 3x3 kernel, reflected borders."""
    x = ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")
    return ops.conv(x, ops.convert_to_tensor(kernel[:, :, None, None].astype("float32")), padding="valid")


@keras.saving.register_keras_serializable(package="cartoongan")
class InkFeatures(keras.layers.Layer):
    """Photo [-1, 1] -> [B, H, W, len(thresholds)]: the gradient magnitude of its grey level
    (blurred twice by the 3x3 binomial kernel, Sobel), kept only where it is the largest of the
    two neighbours along the gradient (non-maximum suppression, Canny's thinning: one pixel
    across; of two equal neighbours, the later one along the axis), minus each threshold
    (0..255 levels a pixel), above 0, divided by 32. No weights.

    An output pixel depends on the HALO pixels around it (two blurs, the gradient and the
    neighbours compared: one each); at the map's edges the blurs and the gradient reflect."""

    HALO = 4

    def __init__(self, thresholds=INK_THRESHOLDS, **kwargs):
        super().__init__(**kwargs)
        self.thresholds = tuple(float(t) for t in thresholds)

    def call(self, photo):
        grey = ops.mean(ops.cast(photo, "float32"), axis=-1, keepdims=True) * 127.5
        grey = _filter3x3(_filter3x3(grey, _BINOMIAL), _BINOMIAL)
        gx, gy = _filter3x3(grey, _SOBEL_X), _filter3x3(grey, _SOBEL_X.T)
        magnitude = ops.sqrt(gx * gx + gy * gy + 1e-6)
        padded = ops.pad(magnitude, [[0, 0], [1, 1], [1, 1], [0, 0]])

        def neighbour(dy, dx):
            return padded[:, 1 + dy:(dy - 1) or None, 1 + dx:(dx - 1) or None]

        def is_peak(dy, dx):  # a tie between two pixels keeps one of them
            return ops.logical_and(magnitude > neighbour(dy, dx), magnitude >= neighbour(-dy, -dx))

        ax, ay = ops.abs(gx), ops.abs(gy)
        peak = ops.where(ay <= _TAN_22_5 * ax, is_peak(0, 1),
                         ops.where(ax <= _TAN_22_5 * ay, is_peak(1, 0),
                                   ops.where(gx * gy > 0, is_peak(1, 1), is_peak(1, -1))))
        thin = magnitude * ops.cast(peak, "float32")
        return ops.concatenate([ops.relu(thin - t) for t in self.thresholds], axis=-1) / _INK_SCALE

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.thresholds))

    def get_config(self):
        return {**super().get_config(), "thresholds": list(self.thresholds)}


# Edges the network may recolour (--body-colour-weight): 10 levels a pixel; within a pixel of
# them lie 83 % of cel5-dark's outline pixels and 39 % of all pixels (docs/learning.md).
RECOLOUR_EDGE_THRESHOLD = 10.0


def near_edges(photo, threshold=RECOLOUR_EDGE_THRESHOLD):
    """Photo [-1, 1] -> [B, H, W, 1]: 1 within one pixel (3x3) of its thinned edges of more
    than `threshold` levels a pixel (InkFeatures), 0 elsewhere. No weights."""
    edges = ops.cast(InkFeatures(thresholds=(threshold,))(photo) > 0, "float32")
    return ops.cast(ops.max_pool(edges, 3, strides=1, padding="same") > 0, "float32")


def _odd_even_merge_sort(n):
    """The comparators (i, j), i < j, of Batcher's odd-even merge sort of `n` values (a power
    of two), in order: each puts the smaller of wires i and j on i."""
    pairs, p = [], 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


@keras.saving.register_keras_serializable(package="cartoongan")
class MedianFilter(keras.layers.Layer):
    """Each channel's median over `size` x `size` windows (the map's edges reflected), as
    OpenCV's medianBlur: flat areas stay, edges stay where they are, texture and specks
    narrower than half the window go. No weights.

    An output pixel depends on the HALO = size // 2 pixels around it.

    The median is picked by a sorting network (Batcher's odd-even merge sort) of elementwise
    minima and maxima over the size * size shifted maps; graph compilers drop the comparisons
    the middle value does not need (its cost: docs/learning.md); it exports as builtin TFLite
    and ONNX ops."""

    def __init__(self, size=5, **kwargs):
        super().__init__(**kwargs)
        if size not in MEDIAN_SIZES:
            raise ValueError(f"MedianFilter size must be one of {', '.join(map(str, MEDIAN_SIZES))}, not {size!r}")
        self.size = int(size)
        self.HALO = self.size // 2

    def call(self, images):
        images = ops.cast(images, "float32")
        halo, size = self.HALO, self.size
        padded = ops.pad(images, [[0, 0], [halo, halo], [halo, halo], [0, 0]], mode="reflect")
        height, width = ops.shape(images)[1], ops.shape(images)[2]
        wires = [padded[:, dy:dy + height, dx:dx + width] for dy in range(size) for dx in range(size)]
        count = len(wires)
        wires += [None] * ((1 << (count - 1).bit_length()) - count)  # None: +infinity, sorted last
        for i, j in _odd_even_merge_sort(len(wires)):
            low, high = wires[i], wires[j]
            if high is None:
                continue
            if low is None:
                wires[i], wires[j] = high, None
            else:
                wires[i], wires[j] = ops.minimum(low, high), ops.maximum(low, high)
        return wires[count // 2]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def add_photo_path(features, photo, filters, kernel_size, name, gain, dtype=None):
    """`features` + `gain` * conv(`photo`), the conv zero-initialised, without bias (`photo`
    already padded for a `kernel_size` > 1)."""
    path = keras.layers.Conv2D(filters, kernel_size, use_bias=False, kernel_initializer="zeros",
                               name=f"{name}_photo_conv", dtype=dtype)(photo)
    path = keras.layers.Rescaling(float(gain), name=f"{name}_photo_gain", dtype="float32")(path)
    return keras.layers.Add(name=f"{name}_photo_add", dtype="float32")([features, path])


def add_blurred_photo_path(features, photo, name, gain, median=0, dtype=None):
    """`features` (3 channels) + the path from the photo (with `median`, its `median` x
    `median` median) blurred by the fixed binomial kernel."""
    if median:
        photo = MedianFilter(median, name=f"{name}_photo_median", dtype="float32")(photo)
    return add_photo_path(features, _binomial_blur(photo, 3, f"{name}_photo", dtype=dtype), 3, 1, name, gain, dtype=dtype)


def _binomial_blur(maps, channels, name, dtype=None):
    """`maps` blurred by the fixed 3x3 binomial kernel, reflected borders (zero response at the
    pixel period)."""
    padded = ReflectionPadding2D(1, name=f"{name}_pad", dtype=dtype)(maps)
    kernel = np.repeat(_BINOMIAL[:, :, None, None], channels, axis=2).astype("float32")
    return keras.layers.DepthwiseConv2D(3, use_bias=False, trainable=False, name=f"{name}_blur", dtype="float32",
                                        depthwise_initializer=keras.initializers.Constant(kernel))(padded)


def add_ink_path(features, photo, gain, soft=False, dtype=None):
    """`features` (3 channels) + `gain` * a zero-initialised 1x1 conv of InkFeatures(`photo`),
    with `soft` blurred by the 3x3 binomial kernel first."""
    ink = InkFeatures(name="ink_features", dtype="float32")(photo)
    if soft:
        ink = _binomial_blur(ink, len(INK_THRESHOLDS), "ink", dtype=dtype)
    return add_photo_path(features, ink, 3, 1, "ink", gain, dtype=dtype)


def with_photo_path(generator, dtype=None, gain=PHOTO_PATH_GAIN, ink_path=INK_PATHS.index("thin"), median=PHOTO_PATH_MEDIAN):
    """The same network with the photo path (scaled by `gain`, its colours from the photo's
    `median` x `median` median, 0: the photo) and the ink path `ink_path` (an index of
    INK_PATHS: 0 none) added and every existing weight copied: its outputs equal
    `generator`'s. A generator that has the photo path is returned as is."""
    config = generator.get_config()
    if config.get("photo_path"):
        return generator
    config = {key: value for key, value in config.items() if key not in ("name", "trainable")}
    extended = type(generator)(dtype=dtype, photo_path=1, photo_path_gain=gain, ink_path=int(ink_path),
                               photo_path_median=median, **config)
    for layer in generator.layers:
        if layer.weights:
            extended.get_layer(layer.name).set_weights(layer.get_weights())
    return extended


def with_output_parts(generator):
    """A model sharing `generator`'s layers: photo -> [its output, the output before the tanh,
    the network's own share of it (what the photo and ink paths are added to), the head photo
    path's term]; None for a generator without the photo path."""
    if not generator.get_config().get("photo_path"):
        return None
    head = generator.get_layer("head_photo_add")
    parts = [generator.output, generator.get_layer("head_tanh").input, head.input[0], head.input[1]]
    return keras.Model(generator.input, parts, name=f"{generator.name}_with_parts")


def supports_photo_path(generator):
    """Whether the generator's family has the path: CartoonGAN and light. White-box has no
    norms (it sees the colours already); AnimeGANv2's layer norms were not given one."""
    return "photo_path" in inspect.signature(type(generator).__init__).parameters
