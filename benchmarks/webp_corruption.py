"""How many damaged WebPs `read_image` refuses, against Pillow alone, and that no sound one is.

    python benchmarks/webp_corruption.py [--photos 40]

Each of the first photos of ../shared/data/photos/train (every 5th, shrunk to 384 px) is
saved as lossy WebP (quality 80), lossy RGBA (quality 30) and lossless; each file is read
whole, then 10 copies with 30 random bytes overwritten at a random place are read. A grid of
synthetic files (sizes 1x1 to 200x100, flat, noise and gradient, qualities 0-100, alpha,
lossless, methods 0 and 6) checks that sound files are never refused (docs/reliability.md).
"""

import argparse
import glob
import io
import os

import numpy as np
from PIL import Image

from cartoongan.images import ImageReadError, read_image

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")


def pillow_decodes(data):
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
        return True
    except OSError:
        return False


def refused(data):
    try:
        read_image(io.BytesIO(data))
        return False
    except ImageReadError:
        return True


def encode(image, **options):
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", **options)
    return buffer.getvalue()


def synthetic(rng):
    for height, width in [(1, 1), (2, 3), (8, 8), (16, 16), (17, 31), (64, 48), (200, 100)]:
        for kind in ("flat", "noise", "gradient"):
            for quality in (0, 50, 80, 100):
                for alpha in (False, True):
                    for lossless in (False, True):
                        if kind == "flat":
                            pixels = np.full((height, width, 3), rng.integers(0, 256, 3), np.uint8)
                        elif kind == "noise":
                            pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                        else:
                            ramp = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
                            pixels = np.broadcast_to(ramp, (height, width, 3)).copy()
                        image = Image.fromarray(pixels)
                        if alpha:
                            image.putalpha(Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8)))
                        for method in (0, 6):
                            yield encode(image, quality=quality, method=method, lossless=lossless)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=40)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    files = list(synthetic(rng))
    print(f"{len(files)} sound synthetic WebPs: {sum(map(refused, files))} refused")
    paths = sorted(glob.glob(os.path.join(SHARED, "data", "photos", "train", "*", "*.jpg")))[::5][:args.photos]
    for label, mode, options in [("lossy, quality 80", "RGB", dict(quality=80)),
                                 ("lossy RGBA, quality 30", "RGBA", dict(quality=30)),
                                 ("lossless", "RGB", dict(lossless=True))]:
        total = pillow = ours = sound_refused = 0
        for path in paths:
            image = Image.open(path).convert(mode)
            image.thumbnail((384, 384))
            data = encode(image, **options)
            sound_refused += refused(data)
            for _ in range(10):
                offset = int(rng.integers(40, len(data) - 30))
                damaged = data[:offset] + rng.integers(0, 256, 30, dtype=np.uint8).tobytes() + data[offset + 30:]
                total += 1
                pillow += not pillow_decodes(damaged)
                ours += refused(damaged)
        print(f"{label}: {len(paths)} photos, {sound_refused} sound ones refused; {total} damaged: "
              f"Pillow fails on {pillow}, read_image refuses {ours}")


if __name__ == "__main__":
    main()
