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
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.per_channel = bool(per_channel)

    def build(self, input_shape):
        shape = (input_shape[-1],) if self.per_channel else (1,)
        self.scale = self.add_weight(name="scale", shape=shape, initializer="ones")
        self.shift = self.add_weight(name="shift", shape=shape, initializer="zeros")

    def call(self, x):
        axes = [1, 2] if self.per_channel else [1, 2, 3]
        mean, variance = ops.moments(x, axes=axes, keepdims=True)
        std = ops.sqrt(variance)
        return (x - mean) / (std + self.epsilon) * self.scale + self.shift

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
