"""convert_light_checkpoint: a CartoonGan-tensorflow *light* generator checkpoint -> preset.

    python tools/convert_light_checkpoint.py \
        --checkpoint light_shinkai_ckpt/ --output presets/light_shinkai
"""

import argparse
import os
import sys


def build_parser():
    parser = argparse.ArgumentParser(
        prog="cartoongan-convert-light-checkpoint",
        description="Convert a CartoonGan-tensorflow light generator checkpoint (TF2 object "
        "checkpoint, RGB in [-1, 1]) into a cartoongan preset directory.",
        epilog="Example: %(prog)s --checkpoint light_shinkai_ckpt/generator "
        "--output presets/light_shinkai; then cartoonize --style presets/light_shinkai ...",
    )
    parser.add_argument("--checkpoint", required=True, metavar="PREFIX_OR_DIR",
                        help="checkpoint prefix (.../generator) or the directory holding it")
    parser.add_argument("--output", required=True, metavar="PRESET_DIR",
                        help="preset directory to write (written whole or not at all)")
    parser.add_argument("--overwrite", action="store_true", help="replace PRESET_DIR if it exists")
    parser.add_argument("--name", help="preset name stored in config.json (default: the output folder's name)")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if os.path.exists(args.output) and not args.overwrite:
        parser.error(f"--output {args.output} already exists (use --overwrite to replace it)")
    if args.name is not None:
        from cartoongan.presets import PresetError, check_preset_name_value

        try:
            check_preset_name_value(args.name, "--name")
        except PresetError as error:
            parser.error(str(error))

    from cartoongan.tf_runtime import import_tensorflow

    import_tensorflow(args.verbose)
    from cartoongan.families.light.convert import resolve_checkpoint_prefix
    from cartoongan.presets import convert_light_checkpoint

    try:
        prefix = resolve_checkpoint_prefix(args.checkpoint)
    except FileNotFoundError as error:
        parser.error(f"--checkpoint: {error}")
    try:
        preset = convert_light_checkpoint(prefix, args.output, name=args.name)
    except (KeyError, ValueError) as error:
        print(f"convert_light_checkpoint: {prefix} does not fit LightGenerator: {error}", file=sys.stderr)
        return 1
    print(f"wrote preset {preset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
