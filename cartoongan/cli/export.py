"""cartoongan-export: export a style for deployment (SavedModel, TFLite, ONNX; the work: `cartoongan.export`).

    python tools/export.py --style hayao --format savedmodel,tflite,onnx --output exported/hayao

Every format takes a uint8 RGB batch [N, H, W, 3] of any size and returns uint8 RGB of the
same shape.
"""

import argparse
import sys

from cartoongan.cli.flags import add_config_flags, flag_names, usage_error
from cartoongan.presets import ENVIRONMENT


def build_parser():
    from cartoongan.export import ExportOptions

    parser = argparse.ArgumentParser(
        prog="cartoongan-export",
        description="Export a style as a SavedModel, a TFLite model and/or an ONNX model that take\n"
        "uint8 RGB images of any size and return uint8 RGB images of the same size.",
        epilog="Example: cartoongan-export --style hayao --format tflite,onnx --output exported/hayao\n\n"
               + ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    add_config_flags(parser, ExportOptions, defaults=True, into={"style": source, "preset": source})
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)

    from cartoongan import export
    from cartoongan.options import LookOptions

    try:
        name_or_path = export.check_export(args.output_dir, args.formats, args.quantize, args.style, args.preset)
        look = LookOptions(strength=args.strength, keep_colors=args.keep_colors)
    except ValueError as error:
        usage_error(parser, error, flag_names(export.ExportOptions))

    from cartoongan.tf_runtime import import_tensorflow
    from cartoongan.weights.download import DownloadError

    import_tensorflow(args.verbose)
    try:
        written = export.export_preset(name_or_path, args.output_dir, args.formats, args.quantize,
                                       log=lambda message: print(message, file=sys.stderr), look=look)
    except (DownloadError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for label, path in written.items():
        print(f"{label}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
