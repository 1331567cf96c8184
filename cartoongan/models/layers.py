"""Layers the CartoonGAN family needs and Keras does not ship."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cartoongan")
class ReflectionPadding2D(keras.layers.Layer):
    """Mirror-pads H and W (NHWC): `padding` pixels on each side, or
    ((top, bottom), (left, right)) (AnimeGANv2 pads only the bottom and right by 1 before its
    stride-2 convolutions)."""

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            self.padding = int(padding)
        else:
            self.padding = tuple(tuple(int(p) for p in pair) for pair in padding)
            if len(self.padding) != 2 or any(len(pair) != 2 for pair in self.padding):
                raise ValueError(f"padding must be an int or ((top, bottom), (left, right)), not {padding!r}")

    @property
    def pads(self):
        """((top, bottom), (left, right))."""
        p = self.padding
        return ((p, p), (p, p)) if isinstance(p, int) else p

    def call(self, x):
        (top, bottom), (left, right) = self.pads
        return ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (top, bottom), (left, right) = self.pads
        grow = lambda d, extra: None if d is None else d + extra
        return (n, grow(h, top + bottom), grow(w, left + right), c)

    def get_config(self):
        padding = self.padding if isinstance(self.padding, int) else [list(pair) for pair in self.padding]
        return {**super().get_config(), "padding": padding}


@keras.saving.register_keras_serializable(package="cartoongan")
class InstanceNormalization(keras.layers.Layer):
    """Instance norm as the original CartoonGAN defines it: `(x - mean) / (std + epsilon)`.

    Note the epsilon sits outside the square root (the upstream Torch/TF code), unlike
    `GroupNormalization`. With `per_channel=False` the statistics span H, W and C together,
    as keras-contrib's `InstanceNormalization(axis=None)` used by CartoonGan-tensorflow does.

    Statistics are always computed in float32 (the layer's dtype policy is pinned), so a
    bfloat16 generator stays faithful: the convolutions may run in low precision, the
    normalisation does not.
    """

    def __init__(self, epsilon=1e-9, per_channel=True, **kwargs):
        kwargs["dtype"] = "float32"
        # Low-precision inputs arrive as they are (no cast to float32 on the way in): see call.
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.per_channel = bool(per_channel)

    def build(self, input_shape):
        shape = (input_shape[-1],) if self.per_channel else (1,)
        self.scale = self.add_weight(name="scale", shape=shape, initializer="ones")
        self.shift = self.add_weight(name="shift", shape=shape, initializer="zeros")

    def call(self, x):
        return self.normalize(x, *self.moments(x))

    # Tiled inference (cartoongan.tiling) combines the statistics of the whole image from
    # tiles and applies them with `normalize`, so the formula has this one definition.

    def moments(self, x):
        """float32 (mean, variance) of `x` over the axes this layer normalises, keepdims."""
        axes = [1, 2] if self.per_channel else [1, 2, 3]
        return ops.moments(ops.cast(x, "float32"), axes=axes, keepdims=True)

    def normalize(self, x, mean, variance):
        """`x` normalised with the given float32 statistics (of `x`, or of the whole image
        `x` is a tile of), then scaled and shifted."""
        if keras.backend.standardize_dtype(x.dtype) == "float32":
            std = ops.sqrt(variance)
            return (x - mean) / (std + self.epsilon) * self.scale + self.shift
        # Low-precision input (a bfloat16/float16 convolution's output): the statistics and
        # the per-channel affine map are computed in float32, then applied as one
        # multiply-add in float32 on the upcast input, which saves a pass over the
        # feature map and several elementwise ops.
        x = ops.cast(x, "float32")
        multiplier = self.scale / (ops.sqrt(variance) + self.epsilon)
        return x * multiplier + (self.shift - mean * multiplier)

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        return {**config, "epsilon": self.epsilon, "per_channel": self.per_channel}


@keras.saving.register_keras_serializable(package="cartoongan")
class ImageLayerNormalization(InstanceNormalization):
    """Layer norm over height, width and channels of each image, with a per-channel scale
    and offset: TF1's `tf.contrib.layers.layer_norm` (begin_norm_axis=1, begin_params_axis=-1)
    as AnimeGANv2 uses it, i.e. `(x - mean) * rsqrt(variance + 1e-12) * scale + shift`.

    Unlike the CartoonGAN instance norm, epsilon sits inside the square root. The statistics
    are the per-image moments of `InstanceNormalization(per_channel=False)`, so tiled inference
    (cartoongan.tiling) streams them the same way; only the affine map differs.
    """

    def __init__(self, epsilon=1e-12, **kwargs):
        kwargs.pop("per_channel", None)
        super().__init__(epsilon=epsilon, per_channel=False, **kwargs)

    def build(self, input_shape):
        shape = (input_shape[-1],)
        self.scale = self.add_weight(name="scale", shape=shape, initializer="ones")
        self.shift = self.add_weight(name="shift", shape=shape, initializer="zeros")

    def normalize(self, x, mean, variance):
        # As tf.nn.batch_normalization computes it: one multiplier per channel, then x * m + (shift - mean * m).
        multiplier = ops.rsqrt(variance + self.epsilon) * self.scale
        x = ops.cast(x, "float32")
        return x * multiplier + (self.shift - mean * multiplier)

    def get_config(self):
        config = super().get_config()
        config.pop("per_channel", None)
        return config


@keras.saving.register_keras_serializable(package="cartoongan")
class GuidedFilter(keras.layers.Layer):
    """The fast guided filter (He et al.) that White-box Cartoonization applies to its
    generator's output, guided by the input photo, per channel: [guide, image] -> filtered.

    Box means are taken over the (2r+1)^2 window clipped to the image, i.e. a box sum of
    zero-padded values divided by N, the box sum of ones (the window's valid count), as the
    authors' `guided_filter.py` normalises it. Computed in float32 whatever the policy.
    """

    def __init__(self, radius=1, epsilon=5e-3, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.radius = int(radius)
        self.epsilon = float(epsilon)

    def _box_sum(self, x):
        size = 2 * self.radius + 1
        kernel = ops.ones((size, size, x.shape[-1], 1), dtype=x.dtype)
        return ops.depthwise_conv(x, kernel, strides=1, padding="same")

    def call(self, inputs):
        guide, image = (ops.cast(t, "float32") for t in inputs)
        count = self._box_sum(ops.ones_like(guide[..., :1]))
        mean = lambda t: self._box_sum(t) / count
        mean_guide, mean_image = mean(guide), mean(image)
        covariance = mean(guide * image) - mean_guide * mean_image
        variance = mean(guide * guide) - mean_guide * mean_guide
        a = covariance / (variance + self.epsilon)
        b = mean_image - a * mean_guide
        return mean(a) * guide + mean(b)

    def compute_output_shape(self, input_shapes):
        return input_shapes[1]

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        return {**config, "radius": self.radius, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="cartoongan")
class CropTopLeft(keras.layers.Layer):
    """Drops the first row and column: a 'valid' stride-2 transposed conv followed by this
    equals PyTorch's ConvTranspose2d(k=3, s=2, padding=1, output_padding=1)."""

    def call(self, x):
        return x[:, 1:, 1:, :]

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else h - 1, None if w is None else w - 1, c)


@keras.saving.register_keras_serializable(package="cartoongan")
class LegacyBilinearUpsampling2D(keras.layers.Layer):
    """x2 bilinear upsampling of H and W with TF1's legacy rule (`resize_bilinear` with
    align_corners=False, half_pixel_centers=False), which CartoonGan-tensorflow trained with:
    out[2i] = in[i], out[2i + 1] = (in[i] + in[i + 1]) / 2, the last row repeated.

    Built from slices, concat and reshape only, so TFLite and ONNX export it as plain ops
    (the half-pixel `keras.layers.UpSampling2D(interpolation="bilinear")` differs).
    """

    def call(self, x):
        return self._upsample_axis(self._upsample_axis(x, 1), 2)

    @staticmethod
    def _upsample_axis(x, axis):
        # x[i + 1] with the last element repeated, then interleave x and the midpoints.
        if axis == 1:
            following = ops.concatenate([x[:, 1:], x[:, -1:]], axis=1)
        else:
            following = ops.concatenate([x[:, :, 1:], x[:, :, -1:]], axis=2)
        midpoints = (x + following) * 0.5
        interleaved = ops.stack([x, midpoints], axis=axis + 1)
        shape = ops.shape(x)
        new_shape = [-1, shape[1], shape[2], shape[3]]
        new_shape[axis] = shape[axis] * 2
        return ops.reshape(interleaved, new_shape)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        double = lambda d: None if d is None else 2 * d
        return (n, double(h), double(w), c)


@keras.saving.register_keras_serializable(package="cartoongan")
class ChannelShuffle(keras.layers.Layer):
    """ShuffleNet channel shuffle: reshape C to (groups, C / groups), transpose, flatten.

    With 2 groups, out[2i] = in[i] and out[2i + 1] = in[C/2 + i]."""

    def __init__(self, groups=2, **kwargs):
        super().__init__(**kwargs)
        self.groups = int(groups)

    def call(self, x):
        shape = ops.shape(x)
        channels = x.shape[-1]
        x = ops.reshape(x, [-1, shape[1], shape[2], self.groups, channels // self.groups])
        x = ops.transpose(x, [0, 1, 2, 4, 3])
        return ops.reshape(x, [-1, shape[1], shape[2], channels])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@keras.saving.register_keras_serializable(package="cartoongan")
class ChannelSplit(keras.layers.Layer):
    """Splits the channels into `num_splits` equal parts (a list of tensors)."""

    def __init__(self, num_splits=2, **kwargs):
        super().__init__(**kwargs)
        self.num_splits = int(num_splits)

    def call(self, x):
        return ops.split(x, self.num_splits, axis=-1)

    def compute_output_shape(self, input_shape):
        *rest, c = input_shape
        part = None if c is None else c // self.num_splits
        return [(*rest, part)] * self.num_splits

    def get_config(self):
        return {**super().get_config(), "num_splits": self.num_splits}
