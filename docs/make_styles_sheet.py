"""Draws docs/styles_photos.jpg and docs/styles_selfies.jpg (every style on the 22 held-out
comparison photos, and on selfies) and prints each style's colour shift: the mean CIELAB
ΔE76 and CIEDE2000 between photo and result after a strong blur (`cartoongan.compare.
colour_shift`), over the 22 photos. docs/styles.md holds the figures and the choice of the
default style they support.

    CARTOONGAN_WEIGHTS_URL=../shared/weights/cartoongan python docs/make_styles_sheet.py

Each style runs as `cartoonize` runs it (the Cartoonizer at its default `auto` precision) on
the photo at its own size (384x384; selfies 256x256). The sheets are labelled by
`cartoongan.compare.contact_sheet`. Results are kept in --cache (one .npz per style), so a
style added later costs only its own run.
"""

import argparse
import glob
import os
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

SHARED = os.path.join(ROOT, "..", "shared", "data")


def all_styles():
    from cartoongan.presets import available_presets

    return [name for name, _, _ in available_presets()]


def spread(items, count):
    """`count` items evenly spaced through `items`."""
    return [items[i * len(items) // count] for i in range(count)]


def read(paths):
    return [np.asarray(Image.open(path).convert("RGB")) for path in paths]


def results_of(style, photos, cache):
    """{set name: [uint8 RGB result per photo]} of `style`, from the cache when it is there."""
    path = os.path.join(cache, f"{style}.npz")
    if os.path.isfile(path):
        with np.load(path) as stored:
            if all(f"{name}_{i}" in stored for name, images in photos.items() for i in range(len(images))):
                return {name: [stored[f"{name}_{i}"] for i in range(len(images))] for name, images in photos.items()}
    from cartoongan import Cartoonizer

    cartoonizer = Cartoonizer.from_pretrained(style)
    results = {name: [cartoonizer(image) for image in images] for name, images in photos.items()}
    np.savez(path, **{f"{name}_{i}": result for name, images in results.items() for i, result in enumerate(images)})
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--styles", nargs="+", help="default: every style --list-styles lists")
    parser.add_argument("--selfies", type=int, default=8, help="how many selfies (evenly spaced in name order)")
    parser.add_argument("--cell", type=int, default=160, help="long side of a picture in the sheets")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "cartoongan_styles_sheet"))
    parser.add_argument("--output-dir", default=os.path.join(ROOT, "docs"))
    args = parser.parse_args()

    from cartoongan.atomic import atomic_file
    from cartoongan.compare import colour_shift, contact_sheet

    os.makedirs(args.cache, exist_ok=True)
    styles = args.styles or all_styles()
    photos = {"photos": read(sorted(glob.glob(os.path.join(SHARED, "eval", "animegan_comparison", "photos", "*")))),
              "selfies": read(spread(sorted(glob.glob(os.path.join(SHARED, "photos", "selfies", "*"))), args.selfies))}
    results = {}
    print("| style | mean ΔE76 | worst photo ΔE76 | mean CIEDE2000 |")
    print("|---|---|---|---|")
    for style in styles:
        results[style] = results_of(style, photos, args.cache)
        pairs = list(zip(photos["photos"], results[style]["photos"]))
        cie76 = [colour_shift(photo, result, "cie76") for photo, result in pairs]
        ciede = [colour_shift(photo, result) for photo, result in pairs]
        print(f"| {style} | {np.mean(cie76):.1f} | {max(cie76):.1f} | {np.mean(ciede):.1f} |", flush=True)
    for name, images in photos.items():
        sheet = contact_sheet(images, [(style, results[style][name]) for style in styles], cell=args.cell)
        output = os.path.join(args.output_dir, f"styles_{name}.jpg")
        with atomic_file(output, suffix=".jpg") as partial:
            Image.fromarray(sheet).save(partial, quality=80, optimize=True)
        print(f"wrote {output} ({os.path.getsize(output) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
