"""Edge smoothing speed: the vectorised `edge_smooth` against the per-pixel reference loop.

    python benchmarks/edge_smoothing.py [--image PATH] [--repeats N]

Both run in the same process on the same images (a 256x256 anime face from ../shared, or
--image, and the same image resized to 512x512); the ratio must be at least 50x.
"""

import argparse
import os
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from cartoongan.data import edge_smooth  # noqa: E402
from tests.data.edge_smoothing_reference import edge_smooth_reference  # noqa: E402

MIN_RATIO = 50.0
DEFAULT_FOLDER = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "anime", "selfie2anime_faces"))


def best_seconds(function, image, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(image)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", help="an anime image (default: the first selfie2anime face in ../shared)")
    parser.add_argument("--repeats", type=int, default=3, help="best of N runs (default: 3)")
    args = parser.parse_args(argv)
    path = args.image
    if path is None:
        if not os.path.isdir(DEFAULT_FOLDER):
            parser.error(f"{DEFAULT_FOLDER} is absent: pass --image")
        path = os.path.join(DEFAULT_FOLDER, sorted(os.listdir(DEFAULT_FOLDER))[0])
    image = Image.open(path).convert("RGB")
    ok = True
    for size in (256, 512):
        rgb = np.asarray(image.resize((size, size), Image.Resampling.LANCZOS) if image.size != (size, size) else image)
        vectorised = best_seconds(edge_smooth, rgb, args.repeats)
        reference = best_seconds(edge_smooth_reference, rgb, args.repeats)
        same = np.array_equal(edge_smooth(rgb), edge_smooth_reference(rgb)[0])
        ratio = reference / vectorised
        ok &= ratio >= MIN_RATIO
        print(f"{size}x{size}: vectorised {vectorised:.5f} s, per-pixel reference {reference:.4f} s, "
              f"ratio {ratio:.0f}x (>= {MIN_RATIO:.0f}x: {'yes' if ratio >= MIN_RATIO else 'NO'}), "
              f"bit-identical: {same}")
    print(f"image: {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
