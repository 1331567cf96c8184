"""The AnimeGANv3 generator (Chen 2022-2023) as a Keras functional model, reconstructed from
the authors' frozen graphs (`AnimeGANv3_Hayao_36.pb`, `AnimeGANv3_Shinkai_37.pb`) and their
public `net/generator.py`: the inference branch ("main") of their two-branch generator; the
other layout of the JP_face ONNX file (`face_layout=1`); and the small one of the tiny_Cute
ONNX file (`tiny_layout=1`)."""

import keras

from cartoongan.families.animegan_v3.layers import (
    ChannelInstanceNormalization,
    ExternalAttention,
    LinearAdaptiveDenormalization,
)
from cartoongan.models.layers import ImageLayerNormalization, LegacyBilinearUpsampling2D, ReflectionPadding2D

# `dtype` is the dtype policy of the convolutions ("float32", "mixed_bfloat16", ...). The
# LADE norms and the attention (pinned), residual sums and the tanh stay float32.
_LEAKY_SLOPE = 0.2


def apply_conv(x, filters, kernel_size, name, strides=1, dtype=None, use_bias=False):
    """Reflection pad -> conv (VALID). A stride-2 conv is padded by 1 at the top and left only
    (the authors' padding for even sizes); others by (k - 1) / 2 all round."""
    pad = ((1, 0), (1, 0)) if strides == 2 else (kernel_size - 1) // 2
    x = ReflectionPadding2D(pad, name=f"{name}_pad", dtype=dtype)(x)
    return keras.layers.Conv2D(filters, kernel_size, strides=strides, use_bias=use_bias, name=f"{name}_conv",
                               dtype=dtype)(x)


def apply_conv_lade_lrelu(x, filters, kernel_size, name, strides=1, epsilon=1e-12, dtype=None):
    x = apply_conv(x, filters, kernel_size, name, strides=strides, dtype=dtype)
    x = LinearAdaptiveDenormalization(epsilon=epsilon, name=f"{name}_norm")(x)
    return keras.layers.LeakyReLU(negative_slope=_LEAKY_SLOPE, name=f"{name}_lrelu", dtype="float32")(x)


def apply_conv_layer_norm_lrelu(x, filters, kernel_size, name, strides=1, epsilon=1e-7, dtype=None):
    x = apply_conv(x, filters, kernel_size, name, strides=strides, dtype=dtype)
    x = ImageLayerNormalization(epsilon=epsilon, name=f"{name}_norm")(x)
    return keras.layers.LeakyReLU(negative_slope=_LEAKY_SLOPE, name=f"{name}_lrelu", dtype="float32")(x)


# The face layout's instance norm after the attention (tf.contrib's instance_norm epsilon as
# the JP_face file stores it).
_FACE_ATTENTION_NORM_EPSILON = 1e-5


def _scenery_layout(inputs, f, norm_epsilon, softmax_epsilon, attention_layer_norm, dtype):
    """The LADE generator of the Hayao, Shinkai and PortraitSketch files. Returns the pre-tanh map."""
    block = lambda x, n, k, name, strides=1: apply_conv_lade_lrelu(x, n, k, name, strides=strides,
                                                                   epsilon=norm_epsilon, dtype=dtype)
    skip1 = block(inputs, f, 7, "enc1")
    x = block(skip1, f, 3, "enc2", strides=2)
    skip2 = block(x, 2 * f, 3, "enc3")
    x = block(skip2, 2 * f, 3, "enc4", strides=2)
    skip3 = block(x, 4 * f, 3, "enc5")
    x = block(skip3, 4 * f, 3, "enc6", strides=2)
    x = block(x, 4 * f, 3, "enc7")
    attention = ExternalAttention(epsilon=softmax_epsilon, name="attention")(x)
    if attention_layer_norm:
        attention = ImageLayerNormalization(epsilon=norm_epsilon, name="attention_norm")(attention)
    else:
        attention = keras.layers.BatchNormalization(epsilon=1e-3, name="attention_norm", dtype="float32")(attention)
    x = keras.layers.Add(name="attention_add", dtype="float32")([attention, x])
    x = keras.layers.LeakyReLU(negative_slope=_LEAKY_SLOPE, name="attention_lrelu", dtype="float32")(x)
    for i, skip in enumerate([skip3, skip2, skip1]):
        filters_out = skip.shape[-1]
        x = LegacyBilinearUpsampling2D(name=f"dec{i + 1}_resize", dtype="float32")(x)
        x = block(x, filters_out, 3, f"dec{i + 1}a")
        x = keras.layers.Add(name=f"dec{i + 1}_skip", dtype="float32")([x, skip])
        x = block(x, filters_out, 3, f"dec{i + 1}b")
    return apply_conv(x, 3, 7, "out", dtype=dtype)


def _face_layout(inputs, f, norm_epsilon, softmax_epsilon, dtype):
    """The JP_face generator: layer norms, three convs per encoder level, instance norm after
    the attention, a 7x7 block then a 3x3 conv to RGB. Returns the pre-tanh map."""
    block = lambda x, n, k, name, strides=1: apply_conv_layer_norm_lrelu(x, n, k, name, strides=strides,
                                                                         epsilon=norm_epsilon, dtype=dtype)
    x = block(inputs, f, 7, "enc1")
    skips = [x]
    for level, n in enumerate((2 * f, 4 * f, 4 * f)):  # a stride-2 conv keeping the width, then two convs
        x = block(x, x.shape[-1], 3, f"enc{3 * level + 2}", strides=2)
        x = block(x, n, 3, f"enc{3 * level + 3}")
        x = block(x, n, 3, f"enc{3 * level + 4}")
        skips.append(x)
    attention = ExternalAttention(epsilon=softmax_epsilon, name="attention")(x)
    attention = ChannelInstanceNormalization(epsilon=_FACE_ATTENTION_NORM_EPSILON, name="attention_norm")(attention)
    x = keras.layers.Add(name="attention_add", dtype="float32")([attention, x])
    x = keras.layers.LeakyReLU(negative_slope=_LEAKY_SLOPE, name="attention_lrelu", dtype="float32")(x)
    for i, skip in enumerate([skips[2], skips[1], skips[0]]):
        n = skip.shape[-1]
        x = LegacyBilinearUpsampling2D(name=f"dec{i + 1}_resize", dtype="float32")(x)
        x = block(x, n, 3, f"dec{3 * i + 1}")
        x = keras.layers.Add(name=f"dec{i + 1}_skip", dtype="float32")([x, skip])
        x = block(x, n, 3, f"dec{3 * i + 2}")
        x = block(x, n, 7 if i == 2 else 3, f"dec{3 * i + 3}")
    return apply_conv(x, 3, 3, "out", dtype=dtype)


def _tiny_layout(inputs, f, norm_epsilon, dtype):
    """The tiny_Cute generator: conv (with bias: the authors' batch norms are folded into it)
    -> LeakyReLU blocks, four levels down to 1/16, two bottleneck residual blocks, four levels
    up with skips, one LADE block at full resolution, a 7x7 conv to RGB. Returns the pre-tanh map."""
    def block(x, n, k, name, strides=1):
        x = apply_conv(x, n, k, name, strides=strides, dtype=dtype, use_bias=True)
        return keras.layers.LeakyReLU(negative_slope=_LEAKY_SLOPE, name=f"{name}_lrelu", dtype="float32")(x)

    x = block(inputs, f, 7, "enc1")
    skips = [x]
    for level, n in enumerate((f, 2 * f, 4 * f, 8 * f)):  # a stride-2 conv, then a conv
        x = block(x, n, 3, f"enc{2 * level + 2}", strides=2)
        x = block(x, n, 3, f"enc{2 * level + 3}")
        skips.append(x)
    for i in (1, 2):  # 1x1 down to half the width, 3x3, 1x1 back (no bias), sum, LeakyReLU
        residual = block(x, 4 * f, 1, f"res{i}a")
        residual = block(residual, 4 * f, 3, f"res{i}b")
        residual = apply_conv(residual, 8 * f, 1, f"res{i}c", dtype=dtype)
        x = keras.layers.Add(name=f"res{i}_add", dtype="float32")([residual, x])
        x = keras.layers.LeakyReLU(negative_slope=_LEAKY_SLOPE, name=f"res{i}_lrelu", dtype="float32")(x)
    for i, skip in enumerate([skips[3], skips[2], skips[1], skips[0]]):
        n = skip.shape[-1]
        x = LegacyBilinearUpsampling2D(name=f"dec{i + 1}_resize", dtype="float32")(x)
        x = block(x, n, 3, f"dec{3 * i + 1}")
        x = keras.layers.Add(name=f"dec{i + 1}_skip", dtype="float32")([x, skip])
        if i < 3:
            x = block(x, n, 3, f"dec{3 * i + 2}")
            x = block(x, n, 3, f"dec{3 * i + 3}")
    x = apply_conv_lade_lrelu(x, f, 3, "dec11", epsilon=norm_epsilon, dtype=dtype)
    return apply_conv(x, 3, 7, "out", dtype=dtype)


@keras.saving.register_keras_serializable(package="cartoongan")
class AnimeGanV3Generator(keras.Model):
    """An encoder of seven conv -> LADE -> LeakyReLU 0.2 blocks (7x7, then pairs of a stride-2
    3x3 and a 3x3 conv: `filters`, 2x, 4x), external attention on the 1/8-resolution map (with
    a residual sum), and a decoder of three TF1 bilinear x2 upsamplings, each followed by two
    3x3 blocks (to the channels of the encoder map of that resolution, which is added after the
    first), a 7x7 conv to RGB and
    tanh.

    The constants the published files differ in are integer parameters (presets bound every
    parameter): the LADE epsilon (inside the square roots) is 10^-`norm_epsilon_exponent`
    (12 in the Hayao file, 5 in the Shinkai one, 7 in the PortraitSketch one); each position's
    sum of attention weights gets 10^-`softmax_epsilon_exponent`; after the attention comes a
    batch norm with moving statistics (epsilon 1e-3; `attention_layer_norm=0`, the .pb files)
    or a layer norm over H, W and C with the LADE epsilon (`attention_layer_norm=1`).

    `face_layout=1` builds the other generator the authors published (the JP_face file):
    conv -> layer norm (over H, W and C, epsilon 10^-`norm_epsilon_exponent`) -> LeakyReLU
    blocks, each encoder level a stride-2 conv then two convs (10 blocks), a per-channel
    instance norm (epsilon 1e-5) after the attention, three blocks per decoder level (the
    skip added after the first; the last level's third is 7x7) and a 3x3 conv to RGB;
    `attention_layer_norm` does not apply.

    `tiny_layout=1` builds the small generator of the tiny_Cute file: no attention, no norm
    but one; conv (with bias) -> LeakyReLU blocks, 7x7 to `filters`, then four levels of a
    stride-2 3x3 and a 3x3 conv (`filters`, 1x, 2x, 4x, 8x; total stride 16), two residual
    bottlenecks at 1/16 (1x1 to 4x, 3x3, 1x1 back without bias, sum, LeakyReLU), four x2
    upsamplings each followed by a block to the width of the encoder map of that resolution
    (added after it) and, on the first three levels, two more; then one 3x3 conv -> LADE ->
    LeakyReLU block and a 7x7 conv to RGB. Its `softmax_epsilon_exponent` and
    `attention_layer_norm` do not apply.

    Takes float NHWC of any size that is a multiple of 8 (three stride-2 convs; 16 for
    `tiny_layout=1`) and at least twice that (a 3x3 conv reflection-pads the smallest map);
    the value convention (RGB in [-1, 1] for the authors' weights) travels in the preset.

    Example:
        generator = AnimeGanV3Generator()
        y = generator(np.zeros((1, 256, 256, 3), "float32"))  # (1, 256, 256, 3), in [-1, 1]
    """

    def __init__(self, filters=32, norm_epsilon_exponent=12, softmax_epsilon_exponent=9, attention_layer_norm=0,
                 face_layout=0, tiny_layout=0, dtype=None, **kwargs):
        if face_layout and tiny_layout:
            raise ValueError("face_layout and tiny_layout are two different generators: set one of them")
        norm_epsilon, softmax_epsilon = 10.0 ** -norm_epsilon_exponent, 10.0 ** -softmax_epsilon_exponent
        # === Functional Model ===
        f = filters
        inputs = keras.Input(shape=(None, None, 3), name="image")
        if face_layout:
            x = _face_layout(inputs, f, norm_epsilon, softmax_epsilon, dtype)
        elif tiny_layout:
            x = _tiny_layout(inputs, f, norm_epsilon, dtype)
        else:
            x = _scenery_layout(inputs, f, norm_epsilon, softmax_epsilon, attention_layer_norm, dtype)
        outputs = keras.layers.Activation("tanh", name="out_tanh", dtype="float32")(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.filters = filters
        self.norm_epsilon_exponent = norm_epsilon_exponent
        self.softmax_epsilon_exponent = softmax_epsilon_exponent
        self.attention_layer_norm = attention_layer_norm
        self.face_layout = face_layout
        self.tiny_layout = tiny_layout
        self.norm_epsilon, self.softmax_epsilon = norm_epsilon, softmax_epsilon
        self.conv_dtype = dtype

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "filters": self.filters,
                "norm_epsilon_exponent": self.norm_epsilon_exponent,
                "softmax_epsilon_exponent": self.softmax_epsilon_exponent,
                "attention_layer_norm": self.attention_layer_norm, "face_layout": self.face_layout,
                "tiny_layout": self.tiny_layout}
