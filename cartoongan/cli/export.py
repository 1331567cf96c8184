"""cartoongan-export: export a style for deployment (SavedModel, TFLite, ONNX; the work: `cartoongan.export`).

    python tools/export.py --style hayao --format savedmodel,tflite,onnx --output exported/hayao

Every format takes a uint8 RGB batch [N, H, W, 3] of any size and returns uint8 RGB of the
same shape.
"""

import argparse
import sys

from cartoongan.cli.flags import usage_error
from cartoongan.presets import ENVIRONMENT

DEFAULT_FORMATS = "savedmodel,tflite,onnx"
FLAGS = {"formats": "--format", "output_dir": "--output"}  # the library's parameters that are not --field


def comma_list(text):
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="cartoongan-export",
        description="Export a style as a SavedModel, a TFLite model and/or an ONNX model that take\n"
        "uint8 RGB images of any size and return uint8 RGB images of the same size.",
        epilog="Example: cartoongan-export --style hayao --format tflite,onnx --output exported/hayao\n\n"
               + ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--style", metavar="NAME", help="a registered style name (see cartoonize --list-styles)")
    source.add_argument("--preset", metavar="DIR", help="a preset directory (config.json + model.weights.h5)")
    parser.add_argument("--format", type=comma_list, default=DEFAULT_FORMATS, metavar="LIST",
                        help=f"comma-separated formats among savedmodel, tflite, onnx (default: {DEFAULT_FORMATS})")
    parser.add_argument("--output", required=True, metavar="DIR",
                        help="folder for saved_model/, model.tflite, model.onnx (created, with its parents)")
    parser.add_argument("--quantize", type=comma_list, default="", metavar="LIST",
                        help="extra TFLite variants, comma-separated: float16 (model_float16.tflite), "
                        "int8-weights (dynamic-range, model_int8_weights.tflite); model.tflite stays float32")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)

    from cartoongan import export

    try:
        name_or_path = export.check_export(args.output, args.format, args.quantize, args.style, args.preset)
    except ValueError as error:
        usage_error(parser, error, FLAGS)

    from cartoongan.tf_runtime import import_tensorflow
    from cartoongan.weights.download import DownloadError

    import_tensorflow(args.verbose)
    try:
        written = export.export_preset(name_or_path, args.output, args.format, args.quantize,
                                       log=lambda message: print(message, file=sys.stderr))
    except (DownloadError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for label, path in written.items():
        print(f"{label}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
