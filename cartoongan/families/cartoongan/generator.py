"""The CartoonGAN generator of Chen et al., CVPR 2018, as a Keras functional model."""

import keras

from cartoongan.models import INK_PATHS, LEGACY_PHOTO_PATH_GAIN
from cartoongan.models.layers import CropTopLeft, InstanceNormalization, ReflectionPadding2D
from cartoongan.models.photo_path import add_blurred_photo_path, add_ink_path, add_photo_path

# `dtype` is the dtype policy of the convolutions ("float32", "mixed_bfloat16", ...).
# Instance norms and residual sums stay float32 whatever it is: low-precision statistics
# and a low-precision residual stream are what ruin reduced-precision CartoonGAN outputs.


def apply_conv_norm_block(x, filters, name, strides=1, dtype=None):
    """3x3 conv (stride `strides`, reflection padding 1) -> 3x3 conv -> instance norm -> ReLU."""
    x = ReflectionPadding2D(1, name=f"{name}_pad1", dtype=dtype)(x)
    x = keras.layers.Conv2D(filters, 3, strides=strides, name=f"{name}_conv1", dtype=dtype)(x)
    x = ReflectionPadding2D(1, name=f"{name}_pad2", dtype=dtype)(x)
    x = keras.layers.Conv2D(filters, 3, name=f"{name}_conv2", dtype=dtype)(x)
    x = InstanceNormalization(name=f"{name}_norm")(x)
    return keras.layers.ReLU(name=f"{name}_relu", dtype=dtype)(x)


def apply_residual_block(x, filters, name, dtype=None):
    shortcut = x
    for i in (1, 2):
        x = ReflectionPadding2D(1, name=f"{name}_pad{i}", dtype=dtype)(x)
        x = keras.layers.Conv2D(filters, 3, name=f"{name}_conv{i}", dtype=dtype)(x)
        x = InstanceNormalization(name=f"{name}_norm{i}")(x)
        if i == 1:
            x = keras.layers.ReLU(name=f"{name}_relu", dtype=dtype)(x)
    return keras.layers.Add(name=f"{name}_add", dtype="float32")([shortcut, x])


def apply_upsample_block(x, filters, name, dtype=None):
    """Stride-2 3x3 transposed conv (first row/column dropped) -> 3x3 conv -> norm -> ReLU."""
    x = keras.layers.Conv2DTranspose(filters, 3, strides=2, name=f"{name}_deconv", dtype=dtype)(x)
    x = CropTopLeft(name=f"{name}_crop", dtype=dtype)(x)
    x = ReflectionPadding2D(1, name=f"{name}_pad", dtype=dtype)(x)
    x = keras.layers.Conv2D(filters, 3, name=f"{name}_conv", dtype=dtype)(x)
    x = InstanceNormalization(name=f"{name}_norm")(x)
    return keras.layers.ReLU(name=f"{name}_relu", dtype=dtype)(x)


@keras.saving.register_keras_serializable(package="cartoongan")
class CartoonGanGenerator(keras.Model):
    """Encoder (7x7 conv, two stride-2 blocks), residual blocks, decoder (two stride-2
    transposed-conv blocks, 7x7 conv, tanh).

    Takes float NHWC of any size; sizes that are not multiples of 4 come out rounded up,
    exactly like the original network. The value convention (BGR or RGB, [-1, 1]) belongs
    to the weights and travels in the preset, not here. `photo_path=1` adds
    cartoongan.models.photo_path, scaled by `photo_path_gain` (then sizes must be multiples of 4);
    `ink_path` its ink path (1: thin lines, 2: soft; cartoongan.models.INK_PATHS); `photo_path_median` N takes the path's colours from the photo's
    N x N median.
    """

    def __init__(self, filters=64, num_residual_blocks=8, photo_path=0,
                 photo_path_gain=LEGACY_PHOTO_PATH_GAIN, ink_path=0, photo_path_median=0, dtype=None, **kwargs):
        # === Functional Model ===
        inputs = keras.Input(shape=(None, None, 3), name="image")
        padded = ReflectionPadding2D(3, name="stem_pad", dtype=dtype)(inputs)
        x = keras.layers.Conv2D(filters, 7, name="stem_conv", dtype=dtype)(padded)
        x = InstanceNormalization(name="stem_norm")(x)
        if photo_path:
            x = add_photo_path(x, padded, filters, 7, "stem", photo_path_gain, dtype=dtype)
        x = keras.layers.ReLU(name="stem_relu", dtype=dtype)(x)
        x = apply_conv_norm_block(x, filters * 2, "down1", strides=2, dtype=dtype)
        x = apply_conv_norm_block(x, filters * 4, "down2", strides=2, dtype=dtype)
        for i in range(num_residual_blocks):
            x = apply_residual_block(x, filters * 4, f"res{i + 1}", dtype=dtype)
        x = apply_upsample_block(x, filters * 2, "up1", dtype=dtype)
        x = apply_upsample_block(x, filters, "up2", dtype=dtype)
        x = ReflectionPadding2D(3, name="head_pad", dtype=dtype)(x)
        x = keras.layers.Conv2D(3, 7, name="head_conv", dtype=dtype)(x)
        if photo_path:
            x = add_blurred_photo_path(x, inputs, "head", photo_path_gain, median=photo_path_median, dtype=dtype)
        if ink_path:
            x = add_ink_path(x, inputs, photo_path_gain, soft=ink_path == INK_PATHS.index("soft"), dtype=dtype)
        outputs = keras.layers.Activation("tanh", name="head_tanh", dtype="float32")(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.filters = filters
        self.num_residual_blocks = num_residual_blocks
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
            **({"photo_path": self.photo_path, "photo_path_gain": self.photo_path_gain} if self.photo_path else {}),
            **({"ink_path": self.ink_path} if self.ink_path else {}),
            **({"photo_path_median": self.photo_path_median} if self.photo_path and self.photo_path_median else {}),
        }
