"""Scoring a generator against reference outputs, in numpy: the same on every Keras backend.

    cartoonize = generator_cartoonizer(generator, Preprocessing("RGB"))  # or a Cartoonizer
    evaluate(cartoonize, photos, references)  # {"mean_psnr": ..., "per_photo": [...]}

`generator_cartoonizer` runs a raw generator through the Cartoonizer's contract (channel order,
[-1, 1] scaling, edge padding to the stride, crop, rounding to uint8) with numpy around the
model call, so a student training under JAX is scored as the TensorFlow Cartoonizer would
score it, without TensorFlow.
"""

import numpy as np

from cartoongan.images import psnr

# Feature maps smaller than 2x2 cannot be reflection-padded inside the generator, so tiny inputs
# are padded up to this size first (and cropped back); `cartoongan.inference` imports it from here.
MIN_GENERATOR_SIZE = 8


def edge_pad_to_multiple(images, multiple):
    """NHWC numpy `images` padded at the bottom and right, by repeating the last row and
    column, to a multiple of `multiple` and at least MIN_GENERATOR_SIZE (as the Cartoonizer)."""
    height, width = images.shape[1:3]
    target = [max(-(-n // multiple) * multiple, MIN_GENERATOR_SIZE) for n in (height, width)]
    return np.pad(images, ((0, 0), (0, target[0] - height), (0, target[1] - width), (0, 0)), mode="edge")


def generator_cartoonizer(generator, preprocessing):
    """A function uint8 RGB (H, W, 3) -> uint8 RGB (H, W, 3) through the raw `generator`
    (a Keras model, any backend), following the Cartoonizer's contract."""

    def cartoonize(image):
        x = np.asarray(image, np.float32)[None]
        if preprocessing.channel_order == "BGR":
            x = x[..., ::-1]
        x = edge_pad_to_multiple(x / 127.5 - 1.0, preprocessing.size_multiple)
        y = np.asarray(generator.predict_on_batch(x), np.float32)[0, : image.shape[0], : image.shape[1]]
        if preprocessing.channel_order == "BGR":
            y = y[..., ::-1]
        return np.clip(np.round((y + 1.0) * 127.5), 0, 255).astype(np.uint8)

    return cartoonize


def evaluate(cartoonize, photos, references, names=None):
    """{"mean_psnr", "per_photo": {name: dB}} of `cartoonize` (uint8 image -> uint8 image,
    e.g. a Cartoonizer or `generator_cartoonizer`) against `references` (uint8, one per photo)."""
    if len(photos) != len(references) or not photos:
        raise ValueError(f"{len(photos)} photos and {len(references)} references: need one reference per photo")
    names = names or [str(i) for i in range(len(photos))]
    scores = [psnr(cartoonize(photo), reference) for photo, reference in zip(photos, references)]
    return {"mean_psnr": float(np.mean(scores)), "per_photo": dict(zip(names, scores))}  # the mean counts every photo


def colour_distance(images, references, projections=64, seed=0):
    """Sliced Wasserstein distance (0..255 units) between the RGB colours of all pixels of
    `images` and of all pixels of `references` (uint8 images of any sizes and counts): the
    mean |quantile difference| of their projections on `projections` fixed random unit vectors.
    0 for the same colour distribution; a palette's proportions count, not only its colours."""
    directions = np.random.default_rng(seed).normal(size=(3, projections))
    directions /= np.linalg.norm(directions, axis=0)

    def quantiles(group):
        pixels = np.concatenate([np.reshape(np.asarray(i, np.float32), (-1, 3)) for i in group])
        return np.sort(pixels @ directions, axis=0)

    a, b = quantiles(images), quantiles(references)
    n = min(len(a), len(b))
    ranks = np.linspace(0.0, 1.0, n)
    return float(np.abs(a[np.round(ranks * (len(a) - 1)).astype(int)] - b[np.round(ranks * (len(b) - 1)).astype(int)]).mean())


def gain_over_photo(outputs, photos, targets):
    """Mean over photos of PSNR(output, target) - PSNR(photo, target), in dB: how much closer to
    each photo's own target rendering the output is than the photo itself (doing nothing scores
    0; undoing a pretrained style's colour casts alone does not score above it)."""
    return float(np.mean([psnr(o, t) - psnr(p, t) for o, p, t in zip(outputs, photos, targets)]))
