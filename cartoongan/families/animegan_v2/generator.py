"""The AnimeGANv2 generator (Chen et al. 2020; `G_net` of the authors' `net/generator.py`)
as a Keras functional model."""

import keras

from cartoongan.models.layers import ImageLayerNormalization, LegacyBilinearUpsampling2D, ReflectionPadding2D

# `dtype` is the dtype policy of the convolutions ("float32", "mixed_bfloat16", ...). Layer
# norms (pinned), residual sums and the tanh stay float32 whatever it is.
_LEAKY_SLOPE = 0.2


def _pad(kernel_size, strides):
    """The authors' Conv2D pads by reflection: 3 for 7x7, 1 for 3x3, and only the bottom and
    right by 1 before a stride-2 conv; 1x1 convs are not padded."""
    if strides == 2:
        return ((0, 1), (0, 1))
    return (kernel_size - 1) // 2


def apply_conv(x, filters, kernel_size, name, strides=1, dtype=None):
    """Reflection pad -> conv (VALID, no bias: the authors' Use_bias=None)."""
    pad = _pad(kernel_size, strides)
    if pad:
        x = ReflectionPadding2D(pad, name=f"{name}_pad", dtype=dtype)(x)
    return keras.layers.Conv2D(filters, kernel_size, strides=strides, use_bias=False, name=f"{name}_conv",
                               dtype=dtype)(x)


def apply_conv_norm_lrelu(x, filters, kernel_size, name, strides=1, dtype=None):
    x = apply_conv(x, filters, kernel_size, name, strides=strides, dtype=dtype)
    x = ImageLayerNormalization(name=f"{name}_norm")(x)
    return keras.layers.LeakyReLU(negative_slope=_LEAKY_SLOPE, name=f"{name}_lrelu", dtype="float32")(x)


def apply_inverted_residual_block(x, filters, name, expansion=2, dtype=None):
    """1x1 conv (x `expansion`) -> norm -> LeakyReLU -> reflection pad -> 3x3 depthwise conv
    (with bias) -> norm -> LeakyReLU -> 1x1 conv -> norm, plus the input when the channel
    counts agree."""
    shortcut = x
    x = apply_conv_norm_lrelu(x, x.shape[-1] * expansion, 1, f"{name}_expand", dtype=dtype)
    x = ReflectionPadding2D(1, name=f"{name}_dw_pad", dtype=dtype)(x)
    x = keras.layers.DepthwiseConv2D(3, name=f"{name}_dw_conv", dtype=dtype)(x)
    x = ImageLayerNormalization(name=f"{name}_dw_norm")(x)
    x = keras.layers.LeakyReLU(negative_slope=_LEAKY_SLOPE, name=f"{name}_dw_lrelu", dtype="float32")(x)
    x = apply_conv(x, filters, 1, f"{name}_project", dtype=dtype)
    x = ImageLayerNormalization(name=f"{name}_project_norm")(x)
    if shortcut.shape[-1] == filters:
        x = keras.layers.Add(name=f"{name}_add", dtype="float32")([shortcut, x])
    return x


@keras.saving.register_keras_serializable(package="cartoongan")
class AnimeGanV2Generator(keras.Model):
    """Blocks as the authors' scopes: A (7x7 conv, 3x3 stride-2 conv, 3x3 conv), B (3x3
    stride-2 conv, 3x3 conv), C (3x3 conv, inverted residual blocks, 3x3 conv), D and E
    (TF1 bilinear x2 then 3x3 convs; E ends with a 7x7 conv), a 1x1 conv to 3 channels and
    tanh. Every conv but the last is followed by layer norm over H, W and C and LeakyReLU 0.2.

    Takes float NHWC of any size that is a multiple of 4 (a stride-2 conv on an odd size
    drops a row); the value convention (RGB in [-1, 1] for the authors' weights) travels in
    the preset.
    """

    def __init__(self, filters=32, num_residual_blocks=4, dtype=None, **kwargs):
        # === Functional Model ===
        f = filters
        inputs = keras.Input(shape=(None, None, 3), name="image")
        x = apply_conv_norm_lrelu(inputs, f, 7, "a1", dtype=dtype)
        x = apply_conv_norm_lrelu(x, 2 * f, 3, "a2", strides=2, dtype=dtype)
        x = apply_conv_norm_lrelu(x, 2 * f, 3, "a3", dtype=dtype)
        x = apply_conv_norm_lrelu(x, 4 * f, 3, "b1", strides=2, dtype=dtype)
        x = apply_conv_norm_lrelu(x, 4 * f, 3, "b2", dtype=dtype)
        x = apply_conv_norm_lrelu(x, 4 * f, 3, "c1", dtype=dtype)
        for i in range(num_residual_blocks):
            x = apply_inverted_residual_block(x, 8 * f, f"c_r{i + 1}", dtype=dtype)
        x = apply_conv_norm_lrelu(x, 4 * f, 3, "c2", dtype=dtype)
        x = LegacyBilinearUpsampling2D(name="d_resize", dtype="float32")(x)
        x = apply_conv_norm_lrelu(x, 4 * f, 3, "d1", dtype=dtype)
        x = apply_conv_norm_lrelu(x, 4 * f, 3, "d2", dtype=dtype)
        x = LegacyBilinearUpsampling2D(name="e_resize", dtype="float32")(x)
        x = apply_conv_norm_lrelu(x, 2 * f, 3, "e1", dtype=dtype)
        x = apply_conv_norm_lrelu(x, 2 * f, 3, "e2", dtype=dtype)
        x = apply_conv_norm_lrelu(x, f, 7, "e3", dtype=dtype)
        x = apply_conv(x, 3, 1, "out", dtype=dtype)
        outputs = keras.layers.Activation("tanh", name="out_tanh", dtype="float32")(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.filters = filters
        self.num_residual_blocks = num_residual_blocks
        self.conv_dtype = dtype

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "filters": self.filters,
            "num_residual_blocks": self.num_residual_blocks,
        }
