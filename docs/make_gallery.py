"""Draws docs/gallery.jpg: rows of photos, columns the styles (the README's "Styles").

    pip install scikit-image   # only for its photos
    CARTOONGAN_WEIGHTS_URL=../shared/weights/cartoongan python docs/make_gallery.py

The photos are scikit-image's `coffee` (CC0, Rachel Michetti), `chelsea` (CC0, Stefan van
der Walt) and `rocket` (SpaceX, released into the public domain). Every style runs on the
photo at its own size (`--side` px on the long side), float32, whole image.
"""

import argparse
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

STYLES = ["hayao", "hayao_lite", "whitebox", "animeganv2_hayao"]
PHOTOS = ["coffee", "chelsea", "rocket"]
LABEL_HEIGHT = 22


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--styles", nargs="+", default=STYLES)
    parser.add_argument("--side", type=int, default=300, help="long side of each picture (default: 300)")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "gallery.jpg"))
    args = parser.parse_args()

    import skimage.data

    from cartoongan import Cartoonizer
    from cartoongan.atomic import atomic_file

    cartoonizers = {style: Cartoonizer.from_pretrained(style, precision="float32", tile_size=0) for style in args.styles}
    rows = []
    for name in PHOTOS:
        photo = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
        photo.thumbnail((args.side, args.side), Image.LANCZOS)
        photo = np.asarray(photo)
        rows.append([photo] + [cartoonizers[style](photo) for style in args.styles])
        print(f"{name}: done", flush=True)
    width = args.side * (len(args.styles) + 1)
    heights = [row[0].shape[0] for row in rows]
    sheet = Image.new("RGB", (width, LABEL_HEIGHT + sum(heights)), "white")
    draw = ImageDraw.Draw(sheet)
    for column, label in enumerate(["photo", *args.styles]):
        draw.text((column * args.side + 6, 5), label, fill="black")
    top = LABEL_HEIGHT
    for row, height in zip(rows, heights):
        for column, picture in enumerate(row):
            sheet.paste(Image.fromarray(picture), (column * args.side, top))
        top += height
    with atomic_file(args.output, suffix=".jpg") as partial:
        sheet.save(partial, quality=85, optimize=True)
    print(f"wrote {args.output} ({os.path.getsize(args.output) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
