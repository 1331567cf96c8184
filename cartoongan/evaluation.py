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
# are padded up to this size first (and cropped back): `padded_side`, which the Cartoonizer uses too.
MIN_GENERATOR_SIZE = 8


def to_unit_range(images):
    """uint8-range images (array of any shape) -> float32 in [-1, 1], the generators' range."""
    return np.asarray(images, np.float32) / 127.5 - 1.0


def to_uint8(images):
    """Generator outputs in [-1, 1] (an array or an eager tensor, any float dtype) -> uint8,
    rounded to the nearest level and clipped, as the Cartoonizer writes them."""
    return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def padded_side(size, multiple, minimum=1, maximum=max):
    """The side an axis of `size` is padded to: a multiple of `multiple`, at least `minimum`
    and MIN_GENERATOR_SIZE. `maximum` takes the larger of two sizes: `max` for ints, the
    framework's own for integer tensors (`cartoongan.inference` passes tf.maximum)."""
    size = maximum(size, max(minimum, MIN_GENERATOR_SIZE))
    return (size + multiple - 1) // multiple * multiple


def edge_pad_to_multiple(images, multiple, minimum=1):
    """NHWC numpy `images` padded at the bottom and right, by repeating the last row and
    column, to `padded_side` a side (as the Cartoonizer)."""
    height, width = images.shape[1:3]
    target = [padded_side(n, multiple, minimum) for n in (height, width)]
    return np.pad(images, ((0, 0), (0, target[0] - height), (0, target[1] - width), (0, 0)), mode="edge")


def generator_cartoonizer(generator, preprocessing):
    """A function uint8 RGB (H, W, 3) -> uint8 RGB (H, W, 3) through the raw `generator`
    (a Keras model, any backend), following the Cartoonizer's contract."""

    def cartoonize(image):
        x = np.asarray(image, np.float32)[None]
        if preprocessing.channel_order == "BGR":
            x = x[..., ::-1]
        x = edge_pad_to_multiple(to_unit_range(x), preprocessing.size_multiple, preprocessing.min_size)
        y = np.asarray(generator.predict_on_batch(x), np.float32)[0, : image.shape[0], : image.shape[1]]
        if preprocessing.channel_order == "BGR":
            y = y[..., ::-1]
        return to_uint8(y)

    return cartoonize


def evaluate(cartoonize, photos, references, names=None):
    """{"mean_psnr", "per_photo": {name: dB}} of `cartoonize` (uint8 image -> uint8 image,
    e.g. a Cartoonizer or `generator_cartoonizer`) against `references` (uint8, one per photo)."""
    if len(photos) != len(references) or not photos:
        raise ValueError(f"{len(photos)} photos and {len(references)} references: need one reference per photo")
    names = names or [str(i) for i in range(len(photos))]
    scores = [psnr(cartoonize(photo), reference) for photo, reference in zip(photos, references)]
    return {"mean_psnr": float(np.mean(scores)), "per_photo": dict(zip(names, scores))}  # the mean counts every photo


class ColourReference:
    """The colours of fixed reference images (uint8, any sizes and counts) projected on
    `projections` fixed random unit vectors and sorted once, so that many sets of images are
    measured against them (`distance`) without sorting the references again."""

    def __init__(self, references, projections=64, seed=0):
        directions = np.random.default_rng(seed).normal(size=(3, projections))
        self.directions = directions / np.linalg.norm(directions, axis=0)
        self.quantiles = self._quantiles(references)

    def _quantiles(self, images):  # [projections, pixels]: each projection sorted in contiguous memory
        pixels = np.concatenate([np.reshape(np.asarray(i, np.float32), (-1, 3)) for i in images])
        return np.sort(self.directions.T @ pixels.T, axis=1)

    def distance(self, images):
        """colour_distance(images, the references)."""
        a, b = self._quantiles(images), self.quantiles
        n = min(a.shape[1], b.shape[1])
        ranks = np.linspace(0.0, 1.0, n)
        return float(np.abs(a[:, np.round(ranks * (a.shape[1] - 1)).astype(int)]
                            - b[:, np.round(ranks * (b.shape[1] - 1)).astype(int)]).mean())


def colour_distance(images, references, projections=64, seed=0):
    """Sliced Wasserstein distance (0..255 units) between the RGB colours of all pixels of
    `images` and of all pixels of `references` (uint8 images of any sizes and counts): the
    mean |quantile difference| of their projections on `projections` fixed random unit vectors.
    0 for the same colour distribution; a palette's proportions count, not only its colours.
    Against the same references many times, ColourReference sorts them once."""
    return ColourReference(references, projections, seed).distance(images)


def gain_over_photo(outputs, photos, targets):
    """Mean over photos of PSNR(output, target) - PSNR(photo, target), in dB: how much closer to
    each photo's own target rendering the output is than the photo itself (doing nothing scores
    0; undoing a pretrained style's colour casts alone does not score above it)."""
    return float(np.mean([psnr(o, t) - psnr(p, t) for o, p, t in zip(outputs, photos, targets)]))


# === Yardsticks: what smoothing alone scores, and what only drawn lines score ===

_BINOMIAL_3X3 = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0


def binomial_blur(rgb):
    """uint8 RGB blurred by the 3x3 binomial kernel (reflected borders): one of the two
    smoothings whose gain is the floor a learned style must beat."""
    import cv2

    blurred = cv2.filter2D(np.asarray(rgb, np.float32), -1, _BINOMIAL_3X3, borderType=cv2.BORDER_REFLECT_101)
    return np.clip(np.round(blurred), 0, 255).astype(np.uint8)


def median_blur(rgb):
    """uint8 RGB through a 5x5 median: the other smoothing of the floor (median-filtered
    styles reward it more than a blur)."""
    import cv2

    return cv2.medianBlur(np.ascontiguousarray(rgb, np.uint8), 5)


SMOOTHINGS = {"blur3": binomial_blur, "median5": median_blur}


def smoothing_gains(photos, targets):
    """{name: gain over the photo} of each of SMOOTHINGS applied to the photos, and "floor":
    the larger of them. A gain a fine-tune reaches has learned something only above the floor."""
    gains = {name: gain_over_photo([smooth(p) for p in photos], photos, targets) for name, smooth in SMOOTHINGS.items()}
    gains["floor"] = max(gains.values())
    return gains


# A pixel is on an outline when the 5x5 closing of the luma (the surroundings' level, thin
# dark structures filled in) is this much brighter than the pixel itself: dark lines up to
# about 3 px wide, drawn in any dark colour, and not the dark side of a plain edge.
OUTLINE_DEPTH = 40.0


def outline_mask(target):
    """Boolean HxW mask of the outline pixels of a uint8 RGB `target`: the pixels that are
    OUTLINE_DEPTH (0..255 luma) darker than the 5x5 closing of the luma around them."""
    import cv2

    luma = np.asarray(target, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    closed = cv2.morphologyEx(luma, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8), borderType=cv2.BORDER_REFLECT_101)
    return closed - luma >= OUTLINE_DEPTH


def outline_score(outputs, photos, targets):
    """PSNR (dB) of the outputs on the targets' outline pixels minus the photos' PSNR there,
    pooled over all images (outline pixels are few in each). A drawn line earns it, smoothing
    earns little; None when the targets draw no outlines."""
    masks = [outline_mask(t) for t in targets]
    if not any(m.any() for m in masks):
        return None

    def masked_psnr(images):
        return psnr(np.concatenate([np.asarray(i)[m] for i, m in zip(images, masks)]),
                    np.concatenate([np.asarray(t)[m] for t, m in zip(targets, masks)]))

    return masked_psnr(outputs) - masked_psnr(photos)


# === Artefacts and colour ===

def checkerboard_response(rgb):
    """Mean |[[1, -1], [-1, 1]] * image| (valid 2x2 windows, every channel): the response to a
    pixel-period checkerboard; zero on flat regions and straight axis-aligned edges."""
    x = np.asarray(rgb, np.float32)
    return float(np.abs(x[:-1, :-1] - x[:-1, 1:] - x[1:, :-1] + x[1:, 1:]).mean())


def stripe_response(rgb):
    """Mean |[1, -2, 1]| along rows and along columns: pixel-period stripes excite it, smooth
    gradients do not."""
    x = np.asarray(rgb, np.float32)
    return float((np.abs(x[:, :-2] - 2 * x[:, 1:-1] + x[:, 2:]).mean() + np.abs(x[:-2] - 2 * x[1:-1] + x[2:]).mean()) / 2)


def saturation(rgb):
    """Mean HSV saturation (max - min) / max, 0..1."""
    x = np.asarray(rgb, np.float32)
    high = x.max(-1)
    return float(np.mean((high - x.min(-1)) / np.maximum(high, 1.0)))
