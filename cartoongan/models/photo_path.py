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
  in docs/learning.md).
Each is scaled by PHOTO_PATH_GAIN: Adam moves a weight by about the learning rate a step
whatever its scale, so a fixed gain is a larger rate for these few weights only (a 1x1 pass
through needs weights near 1, which 1e-4 a step would take 10 000 steps to reach).

Sizes: the head conv adds the photo at the output's size, so a photo-path generator takes
multiples of 4 (the Cartoonizer pads to that; the networks without the path round up).
"""

import inspect

import keras
import numpy as np

from cartoongan.models.layers import ReflectionPadding2D

PHOTO_PATH_GAIN = 10.0
_BINOMIAL = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0


def add_photo_path(features, photo, filters, kernel_size, name, dtype=None):
    """`features` + PHOTO_PATH_GAIN * conv(`photo`), the conv zero-initialised, without bias
    (`photo` already padded for a `kernel_size` > 1)."""
    path = keras.layers.Conv2D(filters, kernel_size, use_bias=False, kernel_initializer="zeros",
                               name=f"{name}_photo_conv", dtype=dtype)(photo)
    path = keras.layers.Rescaling(PHOTO_PATH_GAIN, name=f"{name}_photo_gain", dtype="float32")(path)
    return keras.layers.Add(name=f"{name}_photo_add", dtype="float32")([features, path])


def add_blurred_photo_path(features, photo, name, dtype=None):
    """`features` (3 channels) + the path from the photo blurred by the fixed binomial kernel."""
    blurred = ReflectionPadding2D(1, name=f"{name}_photo_pad", dtype=dtype)(photo)
    kernel = np.repeat(_BINOMIAL[:, :, None, None], 3, axis=2).astype("float32")
    blurred = keras.layers.DepthwiseConv2D(3, use_bias=False, trainable=False, name=f"{name}_photo_blur", dtype="float32",
                                           depthwise_initializer=keras.initializers.Constant(kernel))(blurred)
    return add_photo_path(features, blurred, 3, 1, name, dtype=dtype)


def with_photo_path(generator, dtype=None):
    """The same network with the photo path added and every existing weight copied: its
    outputs equal `generator`'s. A generator that has the path is returned as is."""
    config = generator.get_config()
    if config.get("photo_path"):
        return generator
    config = {key: value for key, value in config.items() if key not in ("name", "trainable")}
    extended = type(generator)(dtype=dtype, photo_path=1, **config)
    for layer in generator.layers:
        if layer.weights:
            extended.get_layer(layer.name).set_weights(layer.get_weights())
    return extended


def supports_photo_path(generator):
    """Whether the generator's family has the path: CartoonGAN and light. White-box has no
    norms (it sees the colours already); AnimeGANv2's layer norms were not given one."""
    return "photo_path" in inspect.signature(type(generator).__init__).parameters
