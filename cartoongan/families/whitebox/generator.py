"""The generator of White-box Cartoonization (Wang & Yu, CVPR 2020), `unet_generator` of the
authors' `test_code/network.py`, with the guided filter their inference applies to it, as
a Keras functional model."""

import keras

from cartoongan.models.layers import GuidedFilter, LegacyBilinearUpsampling2D

# `dtype` is the dtype policy of the convolutions ("float32", "mixed_bfloat16", ...). Skip
# and residual sums and the guided filter stay float32 whatever it is.
_LEAKY_SLOPE = 0.2  # tf.nn.leaky_relu's default
# The authors' cartoonize.py: guided_filter(photo, generator output, r=1, eps=5e-3).
GUIDED_FILTER_RADIUS = 1
GUIDED_FILTER_EPSILON = 5e-3


def apply_conv(x, filters, kernel_size, name, strides=1, dtype=None):
    """slim.convolution2d as the authors call it: SAME padding, bias, then LeakyReLU 0.2."""
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", name=f"{name}_conv", dtype=dtype)(x)
    return keras.layers.LeakyReLU(negative_slope=_LEAKY_SLOPE, name=f"{name}_lrelu", dtype=dtype)(x)


def apply_residual_block(x, filters, name, dtype=None):
    """conv -> LeakyReLU -> conv, plus the input (no activation after the sum)."""
    shortcut = x
    x = apply_conv(x, filters, 3, f"{name}_1", dtype=dtype)
    x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv", dtype=dtype)(x)
    return keras.layers.Add(name=f"{name}_add", dtype="float32")([shortcut, x])


@keras.saving.register_keras_serializable(package="cartoongan")
class WhiteboxGenerator(keras.Model):
    """U-Net: 7x7 conv; two stages of (3x3 stride-2 conv, 3x3 conv); residual blocks;
    3x3 conv; two stages of (TF1 bilinear x2, plus the skip of the same size, two 3x3
    convs); 7x7 conv to 3 channels; then the guided filter (r=1, eps=5e-3) guided by the
    input. No normalization, no tanh (the filter's output may overshoot [-1, 1] slightly).

    Takes float NHWC whose height and width are multiples of 4 (the skips must match);
    the value convention (BGR in [-1, 1] for the authors' weights) travels in the preset.
    """

    def __init__(self, filters=32, num_residual_blocks=4, dtype=None, **kwargs):
        # === Functional Model ===
        inputs = keras.Input(shape=(None, None, 3), name="image")
        x0 = apply_conv(inputs, filters, 7, "stem", dtype=dtype)
        x1 = apply_conv(x0, filters, 3, "down1_1", strides=2, dtype=dtype)
        x1 = apply_conv(x1, filters * 2, 3, "down1_2", dtype=dtype)
        x = apply_conv(x1, filters * 2, 3, "down2_1", strides=2, dtype=dtype)
        x = apply_conv(x, filters * 4, 3, "down2_2", dtype=dtype)
        for i in range(num_residual_blocks):
            x = apply_residual_block(x, filters * 4, f"res{i + 1}", dtype=dtype)
        x = apply_conv(x, filters * 2, 3, "bottleneck", dtype=dtype)
        x = LegacyBilinearUpsampling2D(name="up1_resize", dtype=dtype)(x)
        x = keras.layers.Add(name="up1_skip", dtype="float32")([x, x1])
        x = apply_conv(x, filters * 2, 3, "up1_1", dtype=dtype)
        x = apply_conv(x, filters, 3, "up1_2", dtype=dtype)
        x = LegacyBilinearUpsampling2D(name="up2_resize", dtype=dtype)(x)
        x = keras.layers.Add(name="up2_skip", dtype="float32")([x, x0])
        x = apply_conv(x, filters, 3, "up2_1", dtype=dtype)
        x = keras.layers.Conv2D(3, 7, padding="same", name="head_conv", dtype=dtype)(x)
        outputs = GuidedFilter(GUIDED_FILTER_RADIUS, GUIDED_FILTER_EPSILON, name="guided_filter")([inputs, x])
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
