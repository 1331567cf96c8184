"""Cartoonizer: uint8 RGB images in, uint8 RGB images of the same size out.

The whole contract (channel order, scaling, padding to the generator's stride, cropping,
rounding) is one TensorFlow function over a uint8 batch, `uint8_cartoonize_fn`: the
in-memory Cartoonizer and every exported format run the same graph, so no deployment has
to re-implement the preprocessing.

Large images run tile by tile (`cartoongan.tiling`), with the result of whole-image
inference, when the whole image would not fit the memory budget. The look controls (style
scale, strength, colour keeping: `cartoongan.look`) apply around the network.
"""

import copy
import warnings

import numpy as np
import tensorflow as tf

from cartoongan import precision as precision_lib
from cartoongan.evaluation import padded_side
from cartoongan.look import LUMA, apply_look, guided_upsample
from cartoongan.options import LookOptions
from cartoongan.presets import load_preset

# Memory that inference may use for one image, beyond the loaded model (bytes). Whole-image
# inference of the full generator takes about 0.9 KB per pixel (10.6 GB at 12 MP), so
# images up to about 1 MP run whole and larger ones run in tiles.
DEFAULT_MEMORY_BUDGET = 1 << 30
# Whole-image peak memory per pixel = _WORKSPACE_FACTOR x (the largest input + output of
# one layer, as float32) + _IMAGE_BYTES_PER_PIXEL (the uint8 and float copies of the image);
# calibrated against the peak RSS of the full generator (10.6 GB) and hayao_lite (6.0 GB)
# at 4000x3000 on a CPU.
_WORKSPACE_FACTOR = 1.6
_IMAGE_BYTES_PER_PIXEL = 120
# Tile sides tried by tile_size="auto", largest first (larger tiles are not faster on a CPU:
# a 1 MP image in one tile ran 1.3x slower than in 512-pixel tiles, and 768-pixel tiles
# peaked at 1.9 GB on a 3 MP photo), and the halo they carry.
_AUTO_TILE_SIDES = (512, 384, 256, 128)
_HALO = 32


def _edge_pad_index(size, multiple, minimum):
    """Indices that pad an axis of `size` up to a multiple (and the minimum) by repeating the
    last row: a gather, which every runtime (TFLite builtins, ONNX) supports for any size."""
    return tf.minimum(tf.range(padded_side(size, multiple, minimum, maximum=tf.maximum)), size - 1)


def edge_pad_to_multiple(images, multiple, minimum=1):
    """NHWC `images` padded at the bottom and right, by repeating the last row and column,
    to `cartoongan.evaluation.padded_side` a side."""
    images = tf.gather(images, _edge_pad_index(tf.shape(images)[1], multiple, minimum), axis=1)
    return tf.gather(images, _edge_pad_index(tf.shape(images)[2], multiple, minimum), axis=2)


def uint8_look_fn(look):
    """`look`'s strength and colour keeping as TensorFlow ops, (uint8 photos, uint8 results)
    -> uint8 RGB: the sums of `cartoongan.look.apply_look`, for graphs that bake them in (the
    exported formats). The style scale is no graph op: its upsampling streams the full
    photo in strips, where a graph would hold the whole of it in float (about 0.7 GB at 12 MP)."""
    if look.style_size:
        raise ValueError("style_size cannot be part of a graph; run the Cartoonizer with it")
    luma = tf.constant(LUMA)

    def apply(images, results):
        if look.strength == 0:
            return images
        if look.strength == 1 and not look.keep_colors:
            return results
        p, q = tf.cast(images, tf.float32), tf.cast(results, tf.float32)
        if look.keep_colors:
            q = tf.clip_by_value(tf.round(p + tf.reduce_sum((q - p) * luma, axis=-1, keepdims=True)), 0.0, 255.0)
        if look.strength < 1:
            q = tf.clip_by_value(tf.round(p + look.strength * (q - p)), 0.0, 255.0)
        return tf.cast(q, tf.uint8)

    return apply


def uint8_cartoonize_fn(generator, preprocessing, look=None):
    """A function uint8 RGB [N, H, W, 3] -> uint8 RGB [N, H, W, 3] around a raw generator;
    `look` (LookOptions, no style size): its strength and colour keeping in the graph too."""
    finish = None if look is None else uint8_look_fn(look)

    def cartoonize(images):
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        x = tf.cast(images, tf.float32)
        if preprocessing.channel_order == "BGR":
            x = x[..., ::-1]
        x = x / 127.5 - 1.0
        x = edge_pad_to_multiple(x, preprocessing.size_multiple, preprocessing.min_size)
        # Runtime-sized padding leaves the channel count unknown to shape inference; the
        # TFLite converter cannot lower a convolution without it.
        x = tf.ensure_shape(x, [None, None, None, 3])
        y = tf.cast(generator(x, training=False), tf.float32)
        y = y[:, :height, :width, :]
        if preprocessing.channel_order == "BGR":
            y = y[..., ::-1]
        y = tf.round((y + 1.0) * 127.5)
        y = tf.cast(tf.clip_by_value(y, 0.0, 255.0), tf.uint8)
        return y if finish is None else finish(images, y)

    return cartoonize


def _on_one_thread(function):
    """`function` run by TensorFlow's single-threaded executor: every op of a call on one
    thread. TensorFlow caches its oneDNN primitives per thread and input shape (whitebox: 3.5
    MB a new shape, about 300 MB a full cache), and photos of many sizes filled a
    cache on each of its inter-op threads (docs/reliability.md). Same results, 1-5% slower."""

    def run(images):
        with tf.experimental.function_executor_type("SINGLE_THREADED_EXECUTOR"):
            return function(images)

    return run


class Cartoonizer:
    """Turns photos into anime-style images with a pretrained generator.

    >>> cartoonizer = Cartoonizer.from_pretrained("hayao")
    >>> anime = cartoonizer(photo)  # uint8 RGB HxWx3 -> uint8 RGB HxWx3

    `tile_size`: "auto" runs the whole image when its estimated peak memory fits
    `memory_budget` (bytes) and tiles otherwise; 0 always runs the whole image; N runs
    tiles of N x N pixels whenever the image is larger than one tile. Tiled results equal
    whole-image results (instance norms use the whole image's statistics; see
    `cartoongan.tiling`) up to float rounding.

    The look (`cartoongan.options.LookOptions`, applied by `cartoongan.look`): `style_size`
    N runs the network on the photo shrunk to N px on its long side and guided-upsamples the
    result to full size (0: off);
    `strength` 0..1 blends from the photo to the style; `keep_colors` keeps the photo's
    chroma. `with_look(...)` gives a copy with other values that shares the model.

    Portraits (`cartoongan.portrait`): `with_portrait(face)` gives a copy whose faces are
    drawn by the Cartoonizer `face` (a face style) and the rest by this one.
    """

    def __init__(self, generator, preprocessing, precision="float32", tile_size="auto",
                 memory_budget=DEFAULT_MEMORY_BUDGET, style_size=0, strength=1.0, keep_colors=False):
        self.look = LookOptions(style_size, strength, keep_colors)
        self.generator = generator
        self.preprocessing = preprocessing
        self.precision = precision
        if tile_size != "auto" and (isinstance(tile_size, bool) or not isinstance(tile_size, (int, np.integer))
                                    or tile_size < 0 or 0 < tile_size < 16):
            raise ValueError(f'tile_size must be "auto", 0 or a side of at least 16 pixels, not {tile_size!r}')
        self.tile_size = tile_size
        self.memory_budget = int(memory_budget)
        self.portrait = None  # a cartoongan.portrait.Portrait: faces by a face style
        self._tilers = {}
        self._not_tileable = None
        self._fn = _on_one_thread(tf.function(
            uint8_cartoonize_fn(generator, preprocessing),
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)],
            reduce_retracing=True,
        ))

    @classmethod
    def from_pretrained(cls, name_or_path=None, precision="auto", tile_size="auto",
                        memory_budget=DEFAULT_MEMORY_BUDGET, style_size=0, strength=1.0, keep_colors=False,
                        portrait=False, face_style=None):
        """`name_or_path`: a style name, a preset directory, or None for the default style.

        `precision`: "float32", "bfloat16", "float16" or "auto" (the fastest faithful one
        this machine supports). `tile_size`, `memory_budget`, `style_size`, `strength`,
        `keep_colors`: see the class. `portrait`: faces by `face_style` (a style name or
        preset directory; None: `cartoongan.options.DEFAULT_FACE_STYLE`), see `with_portrait`."""
        look = LookOptions(style_size, strength, keep_colors)  # refused before the model loads
        precision = precision_lib.resolve(precision)
        generator, preprocessing, _ = load_preset(name_or_path, dtype=precision_lib.dtype_policy(precision))
        cartoonizer = cls(generator, preprocessing, precision, tile_size=tile_size, memory_budget=memory_budget,
                          **look.to_dict())
        if not portrait:
            return cartoonizer
        from cartoongan.options import DEFAULT_FACE_STYLE

        face = cls.from_pretrained(face_style or DEFAULT_FACE_STYLE, precision, tile_size, memory_budget,
                                   strength=strength, keep_colors=keep_colors)
        return cartoonizer.with_portrait(face)

    def with_portrait(self, face, detector=None):
        """A copy sharing this one's model whose faces are drawn by the Cartoonizer `face`
        (see `cartoongan.portrait.Portrait`; `detector`: its FaceDetector by default)."""
        from cartoongan.portrait import Portrait

        other = copy.copy(self)
        other.portrait = Portrait(face, detector)
        return other

    def with_look(self, **changes):
        """A Cartoonizer with other look values (`style_size`, `strength`, `keep_colors`)
        sharing this one's model and compiled function."""
        other = copy.copy(self)
        other.look = LookOptions(**{**self.look.to_dict(), **changes})
        return other

    def __call__(self, image, progress=None):
        """uint8 RGB (H, W, 3) -> uint8 RGB (H, W, 3). `progress(done, total, pass_number,
        passes)` is called after every tile when the image runs in tiles (see
        `cartoongan.tiling.TiledGenerator`), never for a whole image."""
        image = _check_image(image)
        if self.portrait is not None:
            return self.portrait(image, self._scene, progress)
        return self._scene(image, progress)

    def _scene(self, image, progress=None):
        """This style on the whole of `image` (no faces apart)."""
        small = self._style_input(image)
        tile_size = self.choose_tile_size(*small.shape[:2])
        styled = self._cartoonize_tiled(small, tile_size, progress) if tile_size else self._fn(small[None]).numpy()[0]
        return self._finish(image, small, styled)

    def cartoonize_batch(self, images, tracker=None):
        """A list of uint8 RGB images -> a list of results; same-sized images run as one batch
        (images too large for the memory budget run one by one, in tiles). With a portrait,
        one by one; `tracker` (a `cartoongan.portrait.FaceTracker`) follows the faces of
        consecutive video frames."""
        images = [_check_image(image) for image in images]
        if self.portrait is not None:
            return [self.portrait(image, self._scene, tracker=tracker) for image in images]
        smalls = [self._style_input(image) for image in images]
        results = [None] * len(images)
        by_shape = {}
        for index, small in enumerate(smalls):
            by_shape.setdefault(small.shape, []).append(index)
        for shape, indices in by_shape.items():
            if self.choose_tile_size(*shape[:2]):
                for i in indices:
                    results[i] = self(images[i])
                continue
            outputs = self._fn(np.stack([smalls[i] for i in indices])).numpy()
            for i, output in zip(indices, outputs):
                results[i] = self._finish(images[i], smalls[i], output)
        return results

    def _style_input(self, image):
        """What the network runs on: the image, or the image shrunk to `style_size`."""
        size = self.look.style_input_size(*image.shape[:2])
        if size == image.shape[:2]:
            return image
        from cartoongan.images import resize

        return resize(image, size[::-1])

    def _finish(self, image, small, styled):
        """The network's result on `small` -> the result for `image`, with the look applied."""
        if small is not image:
            styled = guided_upsample(image, small, styled)
        return apply_look(image, styled, self.look)

    # ---- whole image or tiles

    def _padded_size(self, height, width):
        pad = lambda n: padded_side(n, self.preprocessing.size_multiple, self.preprocessing.min_size)
        return pad(height), pad(width)

    def _tiler(self, tile_size):
        """The TiledGenerator for `tile_size`, or None (with the reason kept) if the
        generator has a layer that cannot be tiled exactly."""
        from cartoongan.tiling import NotTileableError, TiledGenerator

        if self._not_tileable is None and tile_size not in self._tilers:
            try:
                self._tilers[tile_size] = TiledGenerator(self.generator, tile_size=tile_size)
            except NotTileableError as error:
                self._not_tileable = str(error)
        return self._tilers.get(tile_size)

    def whole_image_bytes(self, height, width):
        """Estimated peak memory of whole-image inference on one (height, width) image."""
        height, width = self._padded_size(height, width)
        tiler = self._tiler(_AUTO_TILE_SIDES[0])
        if tiler is None:
            return 1000 * height * width  # no graph walk: assume the full generator's figure
        sizes = tiler.map_sizes(height, width)
        values = lambda t: sizes[t][0] * sizes[t][1] * tiler.channels.get(t, 3)
        widest = max(sum(map(values, node.inputs)) + sum(map(values, node.outputs)) for node in tiler.nodes)
        return int(_WORKSPACE_FACTOR * 4 * widest + _IMAGE_BYTES_PER_PIXEL * height * width)

    def choose_tile_size(self, height, width):
        """0 (whole image) or the tile side this image runs with."""
        if self.tile_size == 0:
            return 0
        if self.tile_size != "auto":
            if max(self._padded_size(height, width)) <= self.tile_size:
                return 0  # one tile: the whole image
            if self._tiler(self.tile_size) is None:
                raise ValueError(f"{type(self.generator).__name__} cannot be tiled: {self._not_tileable}")
            return self.tile_size
        if self.whole_image_bytes(height, width) <= self.memory_budget:
            return 0
        # Tiles: the largest side whose working set, beside the image's own copies, fits.
        per_pixel = self.whole_image_bytes(1024, 1024) / (1024 * 1024)
        room = self.memory_budget - 8 * height * width
        side = next((s for s in _AUTO_TILE_SIDES if per_pixel * (s + 2 * _HALO) ** 2 <= room), _AUTO_TILE_SIDES[-1])
        if self._tiler(side) is None:
            warnings.warn(
                f"{type(self.generator).__name__} cannot be tiled exactly ({self._not_tileable}); running the "
                f"whole {width}x{height} image, which needs about {self.whole_image_bytes(height, width) / 1e9:.1f} GB",
                stacklevel=3)
            return 0
        return side

    def _cartoonize_tiled(self, image, tile_size, progress=None):
        """The contract of `uint8_cartoonize_fn`, in numpy around the tiled generator."""
        height, width = image.shape[:2]
        bgr = self.preprocessing.channel_order == "BGR"

        def read_input(region):
            (r0, r1), (c0, c1) = region
            # Edge padding to the stride, as edge_pad_to_multiple does.
            rows = np.minimum(np.arange(r0, r1), height - 1)
            cols = np.minimum(np.arange(c0, c1), width - 1)
            x = image[rows[:, None], cols[None, :]].astype(np.float32)
            if bgr:
                x = x[..., ::-1]
            return tf.constant((x / np.float32(127.5) - np.float32(1.0))[None])

        output = np.empty_like(image)

        def write_output(region, y):
            (r0, r1), (c0, c1) = region
            r1, c1 = min(r1, height), min(c1, width)
            if r0 >= r1 or c0 >= c1:
                return
            y = tf.cast(y, tf.float32).numpy()[0, :r1 - r0, :c1 - c0]
            if bgr:
                y = y[..., ::-1]
            y = np.round((y + np.float32(1.0)) * np.float32(127.5))
            output[r0:r1, c0:c1] = np.clip(y, 0.0, 255.0).astype(np.uint8)

        self._tiler(tile_size)(read_input, *self._padded_size(height, width), write_output, progress)
        return output


def _check_image(image):
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected a uint8 RGB image of shape (H, W, 3), got {image.dtype} {image.shape}")
    return image
