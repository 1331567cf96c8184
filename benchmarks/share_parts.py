"""Which part of the network's share of a fine-tuned output helps, and which draws the photo back.

    python benchmarks/share_parts.py --style cel5-dark --preset DATA/cel5-dark/run-seed0/preset

A diagnostic of a `benchmarks/learning.py` run, on the suite's 24 held-out photos against
`--style`'s targets: the preset's output is recomposed from its parts
(models.photo_path.with_output_parts: the photo and ink paths, and what the network's last
convolution adds beside them), with one part of that share scaled, and each recomposition's
gain over the photo is printed. The first row, the share kept whole, is the preset's own
output (the suite's figure, up to rounding); the others say what the share's dark grey part,
its colour and light, its low frequencies are worth. docs/learning.md has the figures.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import learning  # noqa: E402  (the suite's photos, styles and scores; it puts the project on sys.path)
from cartoongan.evaluation import gain_over_photo, saturation, to_uint8, to_unit_range  # noqa: E402
from ink_ceiling import held_out  # noqa: E402


def share_variants(share):
    """(name, what replaces the share) for each recomposition: numpy [B, H, W, 3]."""
    import cv2

    grey = share.mean(axis=-1, keepdims=True)
    dark_grey = np.minimum(grey, 0.0)
    low = np.stack([cv2.blur(s, (7, 7), borderType=cv2.BORDER_REFLECT_101) for s in share])
    return [
        ("all of it (the preset)", share),
        ("none", np.zeros_like(share)),
        ("half", share / 2),
        ("its dark grey part only", np.broadcast_to(dark_grey, share.shape)),
        ("its negative part, each channel", np.minimum(share, 0.0)),
        ("its 7x7 mean only", low),
        ("all but its colour (grey)", np.broadcast_to(grey, share.shape)),
    ]


def main(argv=None):
    from cartoongan.models.photo_path import with_output_parts
    from cartoongan.presets import load_preset

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--style", choices=sorted(learning.SUITE), required=True)
    parser.add_argument("--preset", required=True, help="a fine-tuned preset with the photo path")
    args = parser.parse_args(argv)

    photos, targets = held_out(args.style)
    generator, preprocessing, _ = load_preset(args.preset, dtype="float32")
    parts = with_output_parts(generator)
    if parts is None:
        raise SystemExit(f"{args.preset}: no photo path, so no share to take apart")
    flip = preprocessing.channel_order == "BGR"  # the generator's convention, undone on the way out
    x = to_unit_range(np.stack(photos))
    _, before_tanh, share, _ = (np.asarray(a, np.float32) for a in parts(x[..., ::-1] if flip else x))
    print(f"{args.style}, {args.preset}: the share's mean square {np.mean(share ** 2):.4f}")
    for name, replacement in share_variants(share):
        output = np.tanh(before_tanh - share + replacement)
        images = list(to_uint8(output[..., ::-1] if flip else output))
        print(f"  share kept: {name:32s} gain {gain_over_photo(images, photos, targets):+.2f} dB   "
              f"saturation {np.mean([saturation(o) for o in images]):.3f}")


if __name__ == "__main__":
    main()
