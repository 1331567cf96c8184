"""The *light* generator of CartoonGan-tensorflow (ShuffleNetV2-style blocks), as a Keras
functional model whose layers the published TF2 checkpoints map onto one to one."""

import keras

from cartoongan.models import INK_PATHS, LEGACY_PHOTO_PATH_GAIN
from cartoongan.models.layers import (
    ChannelShuffle,
    ChannelSplit,
    InstanceNormalization,
    LegacyBilinearUpsampling2D,
)
from cartoongan.models.photo_path import add_blurred_photo_path, add_ink_path, add_photo_path

# `dtype` is the dtype policy of the convolutions ("float32", "mixed_bfloat16", ...).
# Instance norms run in float32 whatever it is (the layer pins it), and so do the layers
# that carry the untouched half of each shuffle unit (split, concat, shuffle) and the
# ReLUs after the norms: only the convolutions compute in low precision.
_NORM_EPSILON = 1e-3  # keras-contrib InstanceNormalization(axis=None): (x - mean) / (std + 1e-3)


def _norm(name):
    return InstanceNormalization(epsilon=_NORM_EPSILON, per_channel=False, name=name)


def _pointwise_conv(filters, name, dtype):
    return keras.layers.Conv2D(filters, 1, use_bias=False, name=name, dtype=dtype)


def _depthwise_conv(strides, name, dtype):
    return keras.layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=name, dtype=dtype)


def apply_basic_shuffle_block(x, filters, name, dtype=None):
    """ShuffleNetV2 basic unit: the channels split in halves; the second goes through
    1x1 conv -> norm -> ReLU -> 3x3 depthwise conv -> norm -> 1x1 conv -> norm -> ReLU and is
    concatenated after the untouched first; then the two halves are shuffled."""
    half = filters // 2
    identity, branch = ChannelSplit(2, name=f"{name}_split", dtype="float32")(x)
    branch = _pointwise_conv(half, f"{name}_branch_conv1", dtype)(branch)
    branch = _norm(f"{name}_branch_norm1")(branch)
    branch = keras.layers.ReLU(name=f"{name}_branch_relu1", dtype="float32")(branch)
    branch = _depthwise_conv(1, f"{name}_branch_dwconv", dtype)(branch)
    branch = _norm(f"{name}_branch_norm2")(branch)
    branch = _pointwise_conv(half, f"{name}_branch_conv2", dtype)(branch)
    branch = _norm(f"{name}_branch_norm3")(branch)
    branch = keras.layers.ReLU(name=f"{name}_branch_relu2", dtype="float32")(branch)
    x = keras.layers.Concatenate(name=f"{name}_concat", dtype="float32")([identity, branch])
    return ChannelShuffle(2, name=f"{name}_shuffle", dtype="float32")(x)


def apply_down_shuffle_block(x, filters, name, dtype=None):
    """ShuffleNetV2 stride-2 unit: left = 3x3 depthwise conv (stride 2) -> norm -> 1x1 conv;
    right = 1x1 conv -> norm -> ReLU -> 3x3 depthwise conv (stride 2) -> norm -> 1x1 conv;
    concat -> norm -> ReLU -> shuffle. Depthwise convs pad SAME, so odd sizes round up."""
    half = filters // 2
    left = _depthwise_conv(2, f"{name}_left_dwconv", dtype)(x)
    left = _norm(f"{name}_left_norm")(left)
    left = _pointwise_conv(half, f"{name}_left_conv", dtype)(left)
    right = _pointwise_conv(half, f"{name}_right_conv1", dtype)(x)
    right = _norm(f"{name}_right_norm1")(right)
    right = keras.layers.ReLU(name=f"{name}_right_relu", dtype="float32")(right)
    right = _depthwise_conv(2, f"{name}_right_dwconv", dtype)(right)
    right = _norm(f"{name}_right_norm2")(right)
    right = _pointwise_conv(half, f"{name}_right_conv2", dtype)(right)
    x = keras.layers.Concatenate(name=f"{name}_concat", dtype="float32")([left, right])
    x = _norm(f"{name}_norm")(x)
    x = keras.layers.ReLU(name=f"{name}_relu", dtype="float32")(x)
    return ChannelShuffle(2, name=f"{name}_shuffle", dtype="float32")(x)


def apply_upsample_block(x, filters, name, dtype=None):
    """Legacy TF1 bilinear x2 resize -> 1x1 conv (with bias) -> basic shuffle unit."""
    x = LegacyBilinearUpsampling2D(name=f"{name}_resize", dtype="float32")(x)
    x = keras.layers.Conv2D(filters, 1, name=f"{name}_conv", dtype=dtype)(x)
    return apply_basic_shuffle_block(x, filters, name, dtype=dtype)


@keras.saving.register_keras_serializable(package="cartoongan")
class LightGenerator(keras.Model):
    """5x5 conv stem, two ShuffleNetV2 stride-2 units, `num_residual_blocks` basic shuffle
    units, two (bilinear x2, 1x1 conv, shuffle unit) upsampling blocks, 5x5 conv, tanh.

    Takes float NHWC of any size; sizes that are not multiples of 4 come out rounded up
    (75x53 -> 76x56), exactly like the original network. The published checkpoints take
    and give RGB in [-1, 1]; that convention travels in the preset, not here.
    """

    def __init__(self, filters=96, num_residual_blocks=8, end_kernel_size=5, photo_path=0,
                 photo_path_gain=LEGACY_PHOTO_PATH_GAIN, ink_path=0, photo_path_median=0, dtype=None, **kwargs):
        # === Functional Model ===
        inputs = keras.Input(shape=(None, None, 3), name="image")
        end_padding = (end_kernel_size - 1) // 2
        padded = keras.layers.ZeroPadding2D(end_padding, name="stem_pad", dtype=dtype)(inputs)
        x = keras.layers.Conv2D(filters, end_kernel_size, name="stem_conv", dtype=dtype)(padded)
        x = _norm("stem_norm")(x)
        if photo_path:
            x = add_photo_path(x, padded, filters, end_kernel_size, "stem", photo_path_gain, dtype=dtype)
        x = keras.layers.ReLU(name="stem_relu", dtype="float32")(x)
        x = apply_down_shuffle_block(x, filters * 2, "down1", dtype=dtype)
        x = apply_down_shuffle_block(x, filters * 4, "down2", dtype=dtype)
        for i in range(num_residual_blocks):
            x = apply_basic_shuffle_block(x, filters * 4, f"res{i + 1}", dtype=dtype)
        x = apply_upsample_block(x, filters * 2, "up1", dtype=dtype)
        x = apply_upsample_block(x, filters, "up2", dtype=dtype)
        x = keras.layers.ZeroPadding2D(end_padding, name="head_pad", dtype=dtype)(x)
        x = keras.layers.Conv2D(3, end_kernel_size, name="head_conv", dtype=dtype)(x)
        if photo_path:
            x = add_blurred_photo_path(x, inputs, "head", photo_path_gain, median=photo_path_median, dtype=dtype)
        if ink_path:
            x = add_ink_path(x, inputs, photo_path_gain, soft=ink_path == INK_PATHS.index("soft"), dtype=dtype)
        outputs = keras.layers.Activation("tanh", name="head_tanh", dtype="float32")(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.filters = filters
        self.num_residual_blocks = num_residual_blocks
        self.end_kernel_size = end_kernel_size
        self.photo_path = photo_path
        self.photo_path_gain = photo_path_gain
        self.ink_path = ink_path
        self.photo_path_median = photo_path_median
        self.conv_dtype = dtype

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "filters": self.filters,
            "num_residual_blocks": self.num_residual_blocks,
            "end_kernel_size": self.end_kernel_size,
            **({"photo_path": self.photo_path, "photo_path_gain": self.photo_path_gain} if self.photo_path else {}),
            **({"ink_path": self.ink_path} if self.ink_path else {}),
            **({"photo_path_median": self.photo_path_median} if self.photo_path and self.photo_path_median else {}),
        }
