"""cartoongan-export: export a style for deployment (SavedModel, TFLite, ONNX).

    python tools/export.py --style hayao --format savedmodel,tflite,onnx --output exported/hayao

Every format takes a uint8 RGB batch [N, H, W, 3] of any size and returns uint8 RGB of the
same shape; see cartoongan/export.py.
"""

import argparse
import importlib.util
import os
import sys

DEFAULT_FORMATS = "savedmodel,tflite,onnx"


def _comma_list(text):
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="cartoongan-export",
        description="Export a style as a SavedModel, a TFLite model and/or an ONNX model that take "
        "uint8 RGB images of any size and return uint8 RGB images of the same size.",
        epilog="Example: cartoongan-export --style hayao --format tflite,onnx --output exported/hayao",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--style", metavar="NAME", help="a registered style name (see cartoonize --list-styles)")
    source.add_argument("--preset", metavar="DIR", help="a preset directory (config.json + model.weights.h5)")
    parser.add_argument("--format", default=DEFAULT_FORMATS, metavar="LIST",
                        help=f"comma-separated formats among savedmodel, tflite, onnx (default: {DEFAULT_FORMATS})")
    parser.add_argument("--output", required=True, metavar="DIR",
                        help="folder for saved_model/, model.tflite, model.onnx (created, with its parents)")
    parser.add_argument("--quantize", default="", metavar="LIST",
                        help="extra TFLite variants, comma-separated: float16 (model_float16.tflite), "
                        "int8-weights (dynamic-range, model_int8_weights.tflite); model.tflite stays float32")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def check_args(args):
    """Everything that can be wrong with the flags, found before any work starts.

    Returns (name_or_path, formats, quantize); raises ValueError."""
    from cartoongan.export import check_formats
    from cartoongan.presets import STYLES, check_preset_name, embedded_presets, is_preset_dir

    formats = _comma_list(args.format)
    if not formats:
        raise ValueError("--format: no format given")
    quantize = _comma_list(args.quantize)
    try:
        check_formats(formats, quantize)
    except ValueError as error:
        raise ValueError(f"--format/--quantize: {error}") from None
    if args.style is not None:
        if args.style not in STYLES and args.style not in embedded_presets():
            known = ", ".join([*embedded_presets(), *STYLES])
            raise ValueError(f"--style: unknown style {args.style!r}; available styles: {known} "
                             "(use --preset for a preset directory)")
        name_or_path = args.style
    else:
        if not is_preset_dir(args.preset):
            raise ValueError(f"--preset {args.preset}: not a preset directory (no config.json)")
        name_or_path = args.preset
    check_preset_name(name_or_path)
    output = os.path.abspath(args.output)
    if os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(f"--output {args.output} exists and is not a folder")
    # Missing parents are created (`--output exported/hayao` on a fresh clone), but only
    # below a folder: a file in the way is a wrong flag, found before any work.
    ancestor = os.path.dirname(output)
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ValueError(f"--output {args.output}: {ancestor} is not a folder")
    if "onnx" in formats:
        missing = [m for m in ("tf2onnx", "onnx") if importlib.util.find_spec(m) is None]
        if missing:
            raise ValueError(f"--format onnx needs {', '.join(missing)}: pip install 'cartoongan[export]'")
    return name_or_path, formats, quantize


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        name_or_path, formats, quantize = check_args(args)
    except ValueError as error:
        parser.error(str(error))

    from cartoongan.cli.quiet import import_tensorflow

    import_tensorflow(args.verbose)
    from cartoongan.export import export_preset
    from cartoongan.weights.download import DownloadError

    try:
        written = export_preset(name_or_path, args.output, formats, quantize,
                                log=lambda message: print(message, file=sys.stderr))
    except (DownloadError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for label, path in written.items():
        print(f"{label}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
