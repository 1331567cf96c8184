"""Layers the CartoonGAN family needs and Keras does not ship."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cartoongan")
class ReflectionPadding2D(keras.layers.Layer):
    """Mirror-pads H and W by `padding` pixels on each side (NHWC)."""

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, x):
        p = self.padding
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        grow = lambda d: None if d is None else d + 2 * self.padding
        return (n, grow(h), grow(w), c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


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
