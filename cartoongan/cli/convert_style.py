"""convert_style: a style of the table (cartoongan/weights/styles.py: its verified upstream
files, CartoonGAN .npy tensors or a TFLite file) -> preset directory.

    python tools/convert_style.py --style hayao --weights-dtype float16 --output pretrained/hayao
"""

import argparse
import os
import sys


def build_parser():
    from cartoongan.presets import STYLES

    parser = argparse.ArgumentParser(
        prog="cartoongan-convert-style",
        description="Fetch a style's upstream files, check each against the sha256 shipped in the "
        "package, convert them and write a preset directory.",
        epilog="Example: %(prog)s --style hayao --weights-dtype float16 --output pretrained/hayao",
    )
    parser.add_argument("--style", required=True, choices=sorted(STYLES))
    parser.add_argument("--output", required=True, metavar="PRESET_DIR",
                        help="preset directory to write (written whole or not at all)")
    parser.add_argument("--source", metavar="URL_OR_DIR",
                        help="base URL or folder laid out as <style>/<file> (default: $CARTOONGAN_WEIGHTS_URL "
                             "or the style's upstream source)")
    parser.add_argument("--weights-dtype", choices=("float32", "float16"), default="float32",
                        help="storage of the weights (float16: half the size; default: float32)")
    parser.add_argument("--overwrite", action="store_true", help="replace PRESET_DIR if it exists")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if os.path.exists(args.output) and not args.overwrite:
        parser.error(f"--output {args.output} already exists (use --overwrite to replace it)")

    from cartoongan.tf_runtime import import_tensorflow

    import_tensorflow(args.verbose)
    from cartoongan.presets import convert_upstream_style, weights_url
    from cartoongan.weights.download import DownloadError

    try:
        preset = convert_upstream_style(args.style, args.source or weights_url(), args.output,
                                        keep_existing=False, weights_dtype=args.weights_dtype)
    except DownloadError as error:
        print(f"convert_style: {error}", file=sys.stderr)
        return 1
    print(f"wrote preset {preset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
