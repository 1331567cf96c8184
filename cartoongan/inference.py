"""Cartoonizer: uint8 RGB images in, uint8 RGB images of the same size out.

The whole contract (channel order, scaling, padding to the generator's stride, cropping,
rounding) is one TensorFlow function over a uint8 batch, `uint8_cartoonize_fn`: the
in-memory Cartoonizer and every exported format run the same graph, so no deployment has
to re-implement the preprocessing.
"""

import numpy as np
import tensorflow as tf

from cartoongan import precision as precision_lib
from cartoongan.presets import load_preset

# Feature maps smaller than 2x2 cannot be reflection-padded inside the generator, so tiny
# inputs are padded up to this size first (and cropped back).
MIN_GENERATOR_SIZE = 8


def _edge_pad_index(size, multiple):
    """Indices that pad an axis of `size` up to a multiple (and the minimum) by repeating the
    last row: a gather, which every runtime (TFLite builtins, ONNX) supports for any size."""
    target = tf.maximum((size + multiple - 1) // multiple * multiple, MIN_GENERATOR_SIZE)
    return tf.minimum(tf.range(target), size - 1)


def edge_pad_to_multiple(images, multiple):
    """NHWC `images` padded at the bottom and right, by repeating the last row and column,
    to a multiple of `multiple` (and at least MIN_GENERATOR_SIZE)."""
    images = tf.gather(images, _edge_pad_index(tf.shape(images)[1], multiple), axis=1)
    return tf.gather(images, _edge_pad_index(tf.shape(images)[2], multiple), axis=2)


def uint8_cartoonize_fn(generator, preprocessing):
    """A function uint8 RGB [N, H, W, 3] -> uint8 RGB [N, H, W, 3] around a raw generator."""

    def cartoonize(images):
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        x = tf.cast(images, tf.float32)
        if preprocessing.channel_order == "BGR":
            x = x[..., ::-1]
        x = x / 127.5 - 1.0
        x = edge_pad_to_multiple(x, preprocessing.size_multiple)
        # Runtime-sized padding leaves the channel count unknown to shape inference; the
        # TFLite converter cannot lower a convolution without it.
        x = tf.ensure_shape(x, [None, None, None, 3])
        y = tf.cast(generator(x, training=False), tf.float32)
        y = y[:, :height, :width, :]
        if preprocessing.channel_order == "BGR":
            y = y[..., ::-1]
        y = tf.round((y + 1.0) * 127.5)
        return tf.cast(tf.clip_by_value(y, 0.0, 255.0), tf.uint8)

    return cartoonize


class Cartoonizer:
    """Turns photos into anime-style images with a pretrained generator.

    >>> cartoonizer = Cartoonizer.from_pretrained("hayao")
    >>> anime = cartoonizer(photo)  # uint8 RGB HxWx3 -> uint8 RGB HxWx3
    """

    def __init__(self, generator, preprocessing, precision="float32"):
        self.generator = generator
        self.preprocessing = preprocessing
        self.precision = precision
        self._fn = tf.function(
            uint8_cartoonize_fn(generator, preprocessing),
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)],
            reduce_retracing=True,
        )

    @classmethod
    def from_pretrained(cls, name_or_path=None, precision="auto"):
        """`name_or_path`: a style name, a preset directory, or None for the default style.

        `precision`: "float32", "bfloat16", "float16" or "auto" (the fastest faithful one
        this machine supports)."""
        precision = precision_lib.resolve(precision)
        generator, preprocessing, _ = load_preset(name_or_path, dtype=precision_lib.dtype_policy(precision))
        return cls(generator, preprocessing, precision)

    def __call__(self, image):
        """uint8 RGB (H, W, 3) -> uint8 RGB (H, W, 3)."""
        image = _check_image(image)
        return self._fn(image[None]).numpy()[0]

    def cartoonize_batch(self, images):
        """A list of uint8 RGB images -> a list of results; same-sized images run as one batch."""
        images = [_check_image(image) for image in images]
        results = [None] * len(images)
        by_shape = {}
        for index, image in enumerate(images):
            by_shape.setdefault(image.shape, []).append(index)
        for indices in by_shape.values():
            outputs = self._fn(np.stack([images[i] for i in indices])).numpy()
            for i, output in zip(indices, outputs):
                results[i] = output
        return results


def _check_image(image):
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected a uint8 RGB image of shape (H, W, 3), got {image.dtype} {image.shape}")
    return image
