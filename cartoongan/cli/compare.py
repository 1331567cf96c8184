"""cartoongan-compare: photos x styles (x looks) in one labelled contact sheet, and a table of
time per megapixel and colour shift from the photo per style (the work: `cartoongan.compare`).

    python tools/compare.py --photos photos/ --styles hayao hayao_lite \\
        --looks default strength=0.5 keep_colors=true --output sheet.jpg

(--styles takes preset folders too, such as a training run's runs/NAME/preset.)
"""

import argparse
import os
import sys

from cartoongan.cli.flags import flag_type
from cartoongan.compare import DEFAULT_CELL, parse_look
from cartoongan.precision import PRECISIONS
from cartoongan.presets import ENVIRONMENT

SHEET_FORMATS = (".jpg", ".jpeg", ".png", ".webp")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="cartoongan-compare", epilog=ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compare styles (and looks) on your photos: one labelled contact sheet, and per style the time "
                    "per megapixel and the colour shift from the photo (mean CIEDE2000 after a strong blur).")
    parser.add_argument("--photos", nargs="+", required=True, metavar="PATH", help="image files or folders")
    parser.add_argument("--styles", nargs="+", default=["hayao"], metavar="NAME",
                        help="style names or preset folders, e.g. a trained run's and the one it started from "
                             "(default: hayao)")
    parser.add_argument("--looks", nargs="+", type=flag_type(parse_look), default=[parse_look("default")],
                        metavar="LOOK", help="looks to apply to every style: default, or field=value[,field=value] "
                        "with style_size, strength, keep_colors, e.g. strength=0.5 (default: default)")
    parser.add_argument("--output", required=True, metavar="FILE", help="the contact sheet (.jpg, .png, .webp)")
    parser.add_argument("--max-size", type=int, default=2 * DEFAULT_CELL, metavar="N",
                        help="photos shrunk so the long side is at most N pixels; 0 keeps the size (default: %(default)s)")
    parser.add_argument("--cell", type=int, default=DEFAULT_CELL, metavar="N",
                        help="long side of each image in the sheet (default: %(default)s)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="arithmetic of the convolutions (default: auto, the fastest faithful one)")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if os.path.splitext(args.output)[1].lower() not in SHEET_FORMATS:
        parser.error(f"--output {args.output}: expected one of {', '.join(SHEET_FORMATS)}")
    if args.cell < 32 or args.max_size < 0:
        parser.error("--cell must be >= 32" if args.cell < 32 else "--max-size must be >= 0")

    from cartoongan import compare
    from cartoongan.images import ImageReadError, list_images, write_image
    from cartoongan.presets import PresetError
    from cartoongan.weights.download import DownloadError

    paths = []
    for path in args.photos:
        paths += list_images(path) if os.path.isdir(path) else [path]
    if not paths:
        parser.error(f"--photos {' '.join(args.photos)}: no images found")
    if any(os.path.exists(args.output) and os.path.samefile(args.output, path) for path in paths):
        parser.error(f"--output {args.output} is one of the photos")
    try:
        photos = compare.read_photos(paths, args.max_size)
        from cartoongan.inference import Cartoonizer
        from cartoongan.tf_runtime import import_tensorflow

        import_tensorflow(args.verbose)
        cartoonizers = {label: Cartoonizer.from_pretrained(style, precision=args.precision)
                        for label, style in compare.style_labels(args.styles).items()}
    except (ImageReadError, DownloadError, PresetError, FileNotFoundError, ValueError) as error:
        print(f"cartoongan-compare: error: {error}", file=sys.stderr)
        return 2
    sheet, rows = compare.compare(photos, cartoonizers, args.looks, args.cell)
    write_image(args.output, sheet)
    print(compare.format_table(rows))
    print(f"wrote {args.output}: {len(photos)} photos x {len(cartoonizers)} styles x {len(args.looks)} looks",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
