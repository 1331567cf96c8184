"""cartoongan-cartoonize-beam: cartoonize a photo collection of any size with Apache Beam (`cartoongan.beam`).

    python tools/cartoonize_beam.py --input photos/ --output out/ --style hayao_lite \\
        --direct_num_workers 2 --direct_running_mode multi_processing
"""

import argparse
import logging
import sys

from cartoongan.cli.flags import add_config_flags, flag_names, usage_error
from cartoongan.presets import ENVIRONMENT


def build_parser():
    from cartoongan.beam import PIPELINE_HELP, BeamJob
    from cartoongan.jobs import ImageOptions
    from cartoongan.options import LookOptions, PortraitOptions

    parser = argparse.ArgumentParser(
        prog="cartoongan-cartoonize-beam", epilog=PIPELINE_HELP + "\n\n" + ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Cartoonize photos at scale with Apache Beam RunInference (any runner, any Beam filesystem).")
    which = parser.add_mutually_exclusive_group()
    add_config_flags(parser, BeamJob, into={"style": which})  # not given: None, and BeamJob's default
    which.add_argument("--preset", metavar="DIR",
                       help="a preset folder or an exported SavedModel (.../saved_model), on any Beam filesystem")
    add_config_flags(parser, ImageOptions, defaults=True)
    add_config_flags(parser, LookOptions, defaults=True)
    add_config_flags(parser, PortraitOptions, defaults=True)
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--verbose" not in argv:  # Beam's INFO and WARNING lines (every bundle, every worker) off the terminal
        logging.getLogger().setLevel(logging.ERROR)  # before apache_beam is imported: it warns then
        argv.insert(0, "--default_sdk_harness_log_level=ERROR")  # the command line's own options come later and win
    parser = build_parser()
    args, pipeline_args = parser.parse_known_args(argv)

    from cartoongan import beam
    from cartoongan.jobs import ImageOptions
    from cartoongan.presets import PresetError
    from cartoongan.weights.download import DownloadError

    options = {key: value for key, value in vars(args).items() if value is not None and key != "preset"}
    if args.preset:
        options["style"] = args.preset  # a preset folder is a style too
    try:
        job = beam.check_job(beam.BeamJob(**options))
    except (PresetError, DownloadError, OSError) as error:  # OSError: Beam's BeamIOError too
        print(f"cartoongan-cartoonize-beam: error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        usage_error(parser, error, flag_names(ImageOptions))
    summary = beam.run(job, pipeline_args)
    print(f"cartoonized {summary.cartoonized}, skipped {summary.skipped} existing, failed {summary.failed}"
          + (f" (listed in {summary.failed_path})" if summary.failed else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
