"""Draws docs/full_resolution.jpg: a photo, the result at a reduced size (what --max-size
does to a large photo), the full-resolution result (in exact tiles), and 100% crops.

    pip install scikit-image   # only for its photo
    python docs/make_full_resolution_figure.py [--style hayao] [--output docs/full_resolution.jpg]

The photo is scikit-image's `coffee` (600x400, CC0, Rachel Michetti / Pikolo Espresso Bar).
The shrunk result is computed at 150 px (a 4x reduction, as the default --max-size 1024
applies to a 4000x3000 photo) and enlarged back for display. The full-resolution result
runs in 128-pixel tiles, which give the whole-image result.
"""

import argparse
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", default="hayao")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "full_resolution.jpg"))
    parser.add_argument("--reduced", type=int, default=150, help="long side of the shrunk run (default: 150)")
    args = parser.parse_args()

    from skimage import data

    from cartoongan import Cartoonizer
    from cartoongan.images import resize_to_max

    photo = data.coffee()
    height, width = photo.shape[:2]
    cartoonizer = Cartoonizer.from_pretrained(args.style, tile_size=128)
    small, _ = resize_to_max(photo, args.reduced)
    shrunk = np.asarray(Image.fromarray(cartoonizer(small)).resize((width, height), Image.Resampling.LANCZOS))
    full = cartoonizer(photo)

    # 100% crops of a detailed region (the cup's rim and the spoon).
    top, left, side = 60, 230, 200
    crop = lambda image: image[top:top + side, left:left + side]
    panels = [(photo, "photo"), (shrunk, f"shrunk to {args.reduced} px"), (full, "full resolution (tiles)")]
    scale = 0.5
    cell_w, cell_h = int(width * scale), int(height * scale)
    label_h, gap = 18, 6
    figure = Image.new("RGB", (3 * cell_w + 4 * gap, label_h + cell_h + gap + side + 2 * gap), "white")
    draw = ImageDraw.Draw(figure)
    for column, (image, label) in enumerate(panels):
        x = gap + column * (cell_w + gap)
        draw.text((x, 3), label, fill="black")
        thumbnail = Image.fromarray(image).resize((cell_w, cell_h), Image.Resampling.LANCZOS)
        figure.paste(thumbnail, (x, label_h))
        draw.rectangle([x + left * scale, label_h + top * scale, x + (left + side) * scale,
                        label_h + (top + side) * scale], outline="red")
        figure.paste(Image.fromarray(crop(image)), (x + (cell_w - side) // 2, label_h + cell_h + gap))
    figure.save(args.output, quality=88, optimize=True)
    print(f"{args.output}: {figure.size[0]}x{figure.size[1]}, {os.path.getsize(args.output) // 1024} KB")


if __name__ == "__main__":
    main()
