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
from PIL import Image  # noqa: E402

STYLES = ["whitebox", "hayao", "hayao_lite", "animeganv2_hayao"]  # the default first
PHOTOS = ["coffee", "chelsea", "rocket"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--styles", nargs="+", default=STYLES)
    parser.add_argument("--side", type=int, default=300, help="long side of each picture (default: 300)")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "gallery.jpg"))
    args = parser.parse_args()

    import skimage.data

    from cartoongan import Cartoonizer
    from cartoongan.atomic import atomic_file
    from cartoongan.compare import contact_sheet

    cartoonizers = {style: Cartoonizer.from_pretrained(style, precision="float32", tile_size=0) for style in args.styles}
    photos = []
    for name in PHOTOS:
        photo = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
        photo.thumbnail((args.side, args.side), Image.LANCZOS)
        photos.append(np.asarray(photo))
        print(f"{name}: done", flush=True)
    # The same labelled sheet as cartoongan-compare draws
    columns = [(style, [cartoonizers[style](photo) for photo in photos]) for style in args.styles]
    sheet = Image.fromarray(contact_sheet(photos, columns, cell=args.side))
    with atomic_file(args.output, suffix=".jpg") as partial:
        sheet.save(partial, quality=85, optimize=True)
    print(f"wrote {args.output} ({os.path.getsize(args.output) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
