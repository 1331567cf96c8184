"""The CartoonGAN discriminator of Chen et al., CVPR 2018 (Fig. 2), as a Keras functional
model: a patch discriminator whose output is one logit per 4x4 input cell."""

import keras

from cartoongan.models.layers import InstanceNormalization

# `dtype` is the dtype policy of the convolutions ("float32", "mixed_bfloat16", ...).
# Instance norms run in float32 (the layer pins it) and the final logits are float32, so a
# loss computed on them is never a low-precision one.
_LEAKY_SLOPE = 0.2


def _leaky_relu(name, dtype):
    return keras.layers.LeakyReLU(negative_slope=_LEAKY_SLOPE, name=name, dtype=dtype)


NORMALIZATIONS = ("instance", "none")


def _norm(x, normalization, name):
    return InstanceNormalization(epsilon=1e-5, name=name)(x) if normalization == "instance" else x


def apply_down_block(x, filters, name, dtype=None, normalization="instance"):
    """3x3 conv stride 2 (`filters`) -> LeakyReLU -> 3x3 conv (2 * `filters`) -> norm -> LeakyReLU."""
    x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", name=f"{name}_conv1", dtype=dtype)(x)
    x = _leaky_relu(f"{name}_lrelu1", dtype)(x)
    x = keras.layers.Conv2D(filters * 2, 3, padding="same", name=f"{name}_conv2", dtype=dtype)(x)
    x = _norm(x, normalization, f"{name}_norm")
    return _leaky_relu(f"{name}_lrelu2", dtype)(x)


@keras.saving.register_keras_serializable(package="cartoongan")
class CartoonGanDiscriminator(keras.Model):
    """Flat 3x3 conv (`filters`) + LeakyReLU(0.2); two down blocks (3x3 stride-2 conv of
    2x / 4x `filters` + LeakyReLU, 3x3 conv of 4x / 8x `filters` + instance norm +
    LeakyReLU); 3x3 conv (8x `filters`) + instance norm + LeakyReLU; 3x3 conv to one channel.

    Takes float NHWC of any size and gives patch logits (no sigmoid), float32, of shape
    (H/4, W/4, 1) for sizes that are multiples of 4 ('same' padding rounds others up).

    `normalization="none"` drops the three instance norms. Instance norm scales every
    feature map of every image to zero mean and unit variance, which hides from the head
    exactly the image-wide statistics a style is made of (palette, contrast, flatness):
    trained alone for 200 steps to tell posterized, outlined images from a pretrained
    generator's outputs, the instance-norm discriminator stays at chance (mean logits real
    0.36, generated 0.31, smoothed 0.33; LSGAN's blind optimum is 1/3 each), the one
    without norms separates them (0.68, 0.13, 0.17). See TrainConfig.discriminator_norm.
    """

    def __init__(self, filters=32, dtype=None, normalization="instance", **kwargs):
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, not {normalization!r}")
        # === Functional Model ===
        inputs = keras.Input(shape=(None, None, 3), name="image")
        x = keras.layers.Conv2D(filters, 3, padding="same", name="stem_conv", dtype=dtype)(inputs)
        x = _leaky_relu("stem_lrelu", dtype)(x)
        x = apply_down_block(x, filters * 2, "down1", dtype=dtype, normalization=normalization)
        x = apply_down_block(x, filters * 4, "down2", dtype=dtype, normalization=normalization)
        x = keras.layers.Conv2D(filters * 8, 3, padding="same", name="feature_conv", dtype=dtype)(x)
        x = _norm(x, normalization, "feature_norm")
        x = _leaky_relu("feature_lrelu", dtype)(x)
        outputs = keras.layers.Conv2D(1, 3, padding="same", name="head_conv", dtype="float32")(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.filters = filters
        self.normalization = normalization
        self.conv_dtype = dtype

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "filters": self.filters,
                "normalization": self.normalization}
