"""What a fine-tuned preset's ink path draws, and what its features would allow.

    python benchmarks/ink_ceiling.py --style cel5-dark --preset DATA/cel5-dark/run-seed0/preset
                                     [--blur] [--scales 1 0.7 0.5]

A diagnostic of a `benchmarks/learning.py` run, on the suite's 24 held-out photos against
`--style`'s targets:
- where the error is: squared error on the targets' outline pixels (evaluation.outline_mask)
  and off them, for the photo, the 3x3 blur and the preset's outputs; the share of pixels the
  ink path darkens by 20 levels or more, and how many of them are outline pixels;
- the ink path's learned 1x1 weights (times its gain);
- a paired reference: the rest of the generator kept as it is, the ink path's weights (and a
  bias) fitted by least squares so that the output before the tanh comes closest to the
  target's arctanh. Gain, outline score and checkerboard (x the start's) of that fit, at
  `--scales` of the fitted weights; with `--blur`, of the ink features blurred by the 3x3
  binomial kernel first. Fitted to the targets themselves, it says what the features allow,
  not what an unpaired loss can find.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import learning  # noqa: E402  (the suite's photos, styles and scores; it puts the project on sys.path)
from cartoongan.evaluation import (  # noqa: E402
    binomial_blur,
    checkerboard_response,
    gain_over_photo,
    outline_mask,
    outline_score,
    to_uint8,
)

DRAWN_LEVELS = 20  # a pixel the ink path darkens by this much (luma) counts as drawn
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def held_out(style):
    """The suite's held-out photos and their `style` targets (uint8 RGB)."""
    _, _, paths = learning.split_photos(200, 24)
    photos = [learning.centre_square(learning.load_photo(p, learning.EVAL_SIZE)) for p in paths]
    return photos, [learning.SUITE[style](p) for p in photos]


def generator_parts(generator, x):
    """-> (before the ink path, the ink features, the output), all before the tanh but the output."""
    import keras

    parts = keras.Model(generator.input, [generator.get_layer("ink_photo_add").input[0],
                                          generator.get_layer("ink_features").output, generator.output])
    return [np.asarray(a, np.float32) for a in parts(x)]


def fit_ink(before_ink, features, targets):
    """Least-squares weights [features + 1, 3] of features -> arctanh(target) - before_ink."""
    wanted = np.arctanh(np.clip(np.stack(targets).astype(np.float32) / 127.5 - 1.0, -0.995, 0.995)) - before_ink
    design = np.concatenate([features.reshape(-1, features.shape[-1]), np.ones((features[..., :1].size, 1), np.float32)], 1)
    weights, *_ = np.linalg.lstsq(design, wanted.reshape(-1, 3), rcond=None)
    return design, weights


def binomial_blurred(features):
    """Each feature map blurred by the 3x3 binomial kernel (reflected borders)."""
    import cv2

    kernel = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0
    return np.stack([cv2.filter2D(f, -1, kernel, borderType=cv2.BORDER_REFLECT_101) for f in features])


def main(argv=None):
    from cartoongan.presets import load_generator

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--style", choices=sorted(learning.LINE_STYLES), required=True)
    parser.add_argument("--preset", required=True, help="a fine-tuned preset with the ink path")
    parser.add_argument("--start", default=os.path.join(learning.ROOT, "pretrained", "hayao_lite"),
                        help="the preset the checkerboard is a multiple of")
    parser.add_argument("--blur", action="store_true", help="fit the ink features blurred by the 3x3 binomial kernel")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.7, 0.5])
    args = parser.parse_args(argv)

    photos, targets = held_out(args.style)
    generator = load_generator(args.preset)
    if not generator.get_config().get("ink_path"):
        raise SystemExit(f"{args.preset}: no ink path to diagnose")
    x = np.stack(photos).astype(np.float32) / 127.5 - 1.0
    before_ink, features, output = generator_parts(generator, x)
    outputs = list(to_uint8(output))
    start = np.mean([checkerboard_response(o) for o in to_uint8(np.asarray(load_generator(args.start)(x)))])

    lines = np.stack([outline_mask(t) for t in targets])
    truth = np.stack(targets).astype(np.float32)
    print(f"{args.style}: outline pixels {lines.mean():.1%}")
    for name, images in (("photo", photos), ("3x3 blur", [binomial_blur(p) for p in photos]), ("output", outputs)):
        error = (np.stack(images).astype(np.float32) - truth) ** 2
        print(f"  squared error of the {name:8s}: on the outlines {error[lines].mean():8.0f}   off them {error[~lines].mean():6.0f}")
    without_ink = to_uint8(np.tanh(before_ink)).astype(np.float32)
    drawn = (without_ink - np.stack(outputs).astype(np.float32)) @ LUMA >= DRAWN_LEVELS
    print(f"  drawn by the ink path: {drawn.mean():.1%} of the pixels, {(drawn & lines).sum() / max(drawn.sum(), 1):.0%} of them on outlines")
    kernel = np.asarray(generator.get_layer("ink_photo_conv").kernel)[0, 0] * generator.get_config()["photo_path_gain"]
    print("  learned ink weights (feature x RGB, times the gain):\n" + np.array2string(kernel, precision=3, suppress_small=True))

    def report(name, images):
        checker = np.mean([checkerboard_response(o) for o in images]) / start
        print(f"  {name:28s} gain {gain_over_photo(images, photos, targets):+.2f} dB   outline "
              f"{outline_score(images, photos, targets):+.2f}   checkerboard {checker:.2f}x")

    report("learned", outputs)
    features = binomial_blurred(features) if args.blur else features
    design, weights = fit_ink(before_ink, features, targets)
    print("  fitted ink weights (feature x RGB; last row: bias):\n" + np.array2string(weights, precision=3, suppress_small=True))
    for scale in args.scales:
        fitted = to_uint8(np.tanh(before_ink + scale * (design @ weights).reshape(before_ink.shape)))
        report(f"fitted{' (blurred)' if args.blur else ''} x{scale:g}", list(fitted))


if __name__ == "__main__":
    main()
