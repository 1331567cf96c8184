"""cartoongan-compare: photos x styles (x looks) in one labelled contact sheet, and a table of
time per megapixel and colour shift from the photo per style (the work: `cartoongan.compare`).

    python tools/compare.py --photos photos/ --styles hayao hayao_lite \\
        --looks default strength=0.5 keep_colors=true --output sheet.jpg
"""

import argparse
import os
import sys
import tempfile

from cartoongan.cli.flags import add_config_flags, flag_type, usage_error
from cartoongan.compare import DEFAULT_CELL, DEFAULT_MAX_SIZE, SHEET_FORMATS, parse_look
from cartoongan.options import PortraitOptions
from cartoongan.precision import PRECISIONS
from cartoongan.presets import DEFAULT_STYLE, ENVIRONMENT

PAGES = """A sheet too tall for its format (JPEG: 65,535 pixels, WebP: 16,383) or for encoding at once
continues in NAME-2.EXT, NAME-3.EXT, ...; a PNG is one file of any length. Memory stays
bounded whatever the number of photos (one photo at a time; the sheet is built on disk).
An unreadable photo is named and left out; the others are compared (exit status 1)."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="cartoongan-compare", epilog=PAGES + "\n\n" + ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compare styles (and looks) on your photos: one labelled contact sheet, and per style the time "
                    "per megapixel and the colour shift from the photo (mean CIEDE2000 after a strong blur).")
    parser.add_argument("--photos", nargs="+", required=True, metavar="PATH", help="image files or folders")
    parser.add_argument("--styles", nargs="+", default=[DEFAULT_STYLE], metavar="NAME",
                        help="style names or preset folders, e.g. a trained run's and the one it started from "
                             f"(default: {DEFAULT_STYLE})")
    parser.add_argument("--looks", nargs="+", type=flag_type(parse_look), default=[parse_look("default")],
                        metavar="LOOK", help="looks to apply to every style: default, or field=value[,field=value] "
                        "with style_size, strength, keep_colors, e.g. strength=0.5 (default: default)")
    parser.add_argument("--output", required=True, metavar="FILE", help="the contact sheet (.jpg, .png, .webp)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the sheet if it exists (a link is written through, not replaced)")
    parser.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE, metavar="N",
                        help="photos shrunk so the long side is at most N pixels; 0 keeps the size (default: %(default)s)")
    parser.add_argument("--cell", type=int, default=DEFAULT_CELL, metavar="N",
                        help="long side of each image in the sheet (default: %(default)s)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="arithmetic of the convolutions (default: auto, the fastest faithful one)")
    add_config_flags(parser, PortraitOptions, defaults=True)
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def cartoonizer_options(args):
    """What every style's Cartoonizer is built with (`Cartoonizer.from_pretrained`); a
    ParameterError for --face-style without --portrait."""
    return {"precision": args.precision, **PortraitOptions(args.portrait, args.face_style).to_dict()}


def check_pages(pages, photos, overwrite):
    """A message for the first page that cannot be written, or None: a folder, an existing
    file without `overwrite`, one of the photos, or a place that cannot be written."""
    for page in pages:
        real = os.path.realpath(page)
        if os.path.isdir(real):
            return f"--output {page} is a folder"
        if os.path.lexists(page) and not overwrite:
            return f"--output {page} exists (use --overwrite to replace it)"
        if os.path.exists(real) and any(os.path.samefile(real, photo) for photo in photos if os.path.exists(photo)):
            return f"--output {page} is one of the photos"
        folder = os.path.dirname(real)
        while not os.path.lexists(folder):  # created when the sheet is written
            folder = os.path.dirname(folder)
        if not os.path.isdir(folder):
            return f"--output {page}: {folder} is not a folder"
        try:
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as error:
            return f"--output {page}: cannot write in {folder} ({error.strerror or error})"
    return None


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if os.path.splitext(args.output)[1].lower() not in SHEET_FORMATS:
        parser.error(f"--output {args.output}: expected one of {', '.join(SHEET_FORMATS)}")
    if args.cell < 32 or args.max_size < 0:
        parser.error("--cell must be >= 32" if args.cell < 32 else "--max-size must be >= 0")
    try:
        cartoonizer_options(args)
    except ValueError as error:
        usage_error(parser, error)

    from cartoongan import compare
    from cartoongan.images import ImageReadError, list_images
    from cartoongan.presets import PresetError
    from cartoongan.weights.download import DownloadError

    paths = []
    for path in args.photos:
        paths += list_images(path) if os.path.isdir(path) else [path]
    if not paths:
        parser.error(f"--photos {' '.join(args.photos)}: no images found")
    pages = compare.page_paths(args.output, len(paths), 1 + len(args.styles) * len(args.looks), args.cell)
    problem = check_pages(pages, paths, args.overwrite)
    if problem:
        parser.error(problem)
    try:
        labels = compare.style_labels(args.styles)
        from cartoongan.inference import Cartoonizer
        from cartoongan.tf_runtime import import_tensorflow

        import_tensorflow(args.verbose)
        cartoonizers = {label: Cartoonizer.from_pretrained(style, **cartoonizer_options(args))
                        for label, style in labels.items()}
    except (DownloadError, PresetError, FileNotFoundError, ValueError) as error:
        print(f"cartoongan-compare: error: {error}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    comparison = compare.Comparison(cartoonizers, args.looks, args.cell)
    left_out = []
    try:
        with compare.SheetWriter(pages, comparison.labels, args.cell) as sheet:
            for path in tqdm(paths, unit="photo", desc="compare", disable=None, file=sys.stderr):
                try:
                    photo = compare.read_photo(path, args.max_size)
                except ImageReadError as error:
                    print(f"cartoongan-compare: error: {str(error).removesuffix('; skipped')}; left out of the sheet",
                          file=sys.stderr)
                    left_out.append(path)
                    continue
                sheet.add(comparison.add(photo))
    except OSError as error:
        print(f"cartoongan-compare: error: {error}", file=sys.stderr)
        return 1
    if not sheet.written:
        print(f"cartoongan-compare: error: none of the {len(paths)} photos could be read; nothing written",
              file=sys.stderr)
        return 1
    print(compare.format_table(comparison.rows()))
    compared = len(paths) - len(left_out)
    print(f"wrote {', '.join(sheet.written)}: {compared} photos x {len(cartoonizers)} styles x {len(args.looks)} looks"
          + (f"; left out {len(left_out)} unreadable: {', '.join(left_out)}" if left_out else ""), file=sys.stderr)
    return 1 if left_out else 0


if __name__ == "__main__":
    sys.exit(main())
