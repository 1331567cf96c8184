"""cartoonize-beam: cartoonize a photo collection of any size with Apache Beam.

    python tools/cartoonize_beam.py --input photos/ --output out/ --style hayao_lite \\
        --direct_num_workers 2 --direct_running_mode multi_processing

Flags this tool does not know are Beam pipeline options (--runner, --project, ...).
"""

import argparse
import os
import sys

_EPILOG = """Any other flag is a Beam pipeline option, e.g.
  locally:  --direct_num_workers 2 --direct_running_mode multi_processing
  Dataflow: --runner DataflowRunner --project P --region R --temp_location gs://B/tmp
            --sdk_container_image IMAGE (an image with this package installed)
  Flink:    --runner FlinkRunner --flink_master HOST:8081 --environment_type DOCKER
            --environment_config IMAGE

Outputs go to DIR/<style>/<path below the input folder>, as with `cartoonize`; existing
outputs are skipped, so re-running a stopped job does only what is missing. Files that
cannot be read, cartoonized or written are listed in DIR/_failed/failed.jsonl (file and
reason) and counted; they never fail the job (exit status 0)."""


def build_parser():
    from cartoongan.beam import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_FILE_MB
    from cartoongan.cli.cartoonize import DEFAULT_MAX_SIZE, parse_size_in_bytes, parse_tile_size
    from cartoongan.precision import PRECISIONS

    parser = argparse.ArgumentParser(
        prog="cartoonize-beam",
        description="Cartoonize photos at scale with Apache Beam RunInference (any runner, any Beam filesystem).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", required=True, metavar="PATTERN",
                        help="a folder (searched recursively) or a glob, on any Beam filesystem (gs://, s3://, local)")
    parser.add_argument("--output", required=True, metavar="DIR", help="results go to DIR/<style>/<relative path>")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--style", metavar="NAME", help="a style name (default: hayao; see `cartoonize --list-styles`)")
    which.add_argument("--preset", metavar="DIR",
                       help="a preset folder or an exported SavedModel (.../saved_model), on any Beam filesystem")
    parser.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE, metavar="N",
                        help=f"shrink so the long side is at most N pixels; 0 keeps the size (default: {DEFAULT_MAX_SIZE})")
    parser.add_argument("--format", choices=("same", "png", "jpg"), default="same",
                        help="output format (default: same as the input)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="arithmetic of the convolutions (default: auto, as the CLI)")
    parser.add_argument("--tile-size", type=parse_tile_size, default="auto", metavar="auto|0|N",
                        help="run large images in N x N tiles with the whole image's result, as `cartoonize` "
                             "(default: auto, tiles only beyond --memory-budget)")
    parser.add_argument("--memory-budget", type=parse_size_in_bytes, default="1G", metavar="SIZE",
                        help="memory inference may use per image beyond the model, e.g. 800M, 4G (default: 1G)")
    parser.add_argument("--pixel-limit", type=float, metavar="MP",
                        help="images over MP megapixels (as decoded) go to the failed list undecoded "
                             "(default: Pillow's limit, 89.5)")
    parser.add_argument("--max-batch-size", type=int, default=DEFAULT_MAX_BATCH_SIZE, metavar="N",
                        help=f"images per generator call, at most (default: {DEFAULT_MAX_BATCH_SIZE})")
    parser.add_argument("--max-file-mb", type=float, default=DEFAULT_MAX_FILE_MB, metavar="MB",
                        help=f"larger input files go to the failed list unread (default: {DEFAULT_MAX_FILE_MB})")
    parser.add_argument("--large-model", action="store_true",
                        help="one model per machine, shared by its worker processes (default: one per process)")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def check_flags(args):
    """-> the style to load; raises ValueError / PresetError before any work."""
    from cartoongan.beam import is_local, is_saved_model, matches_anything
    from cartoongan.presets import DEFAULT_STYLE, check_preset_name, resolve_preset

    for flag, value, least in (("--max-size", args.max_size, 0), ("--max-batch-size", args.max_batch_size, 1),
                               ("--max-file-mb", args.max_file_mb, 0)):
        if value < least:
            raise ValueError(f"{flag} must be >= {least}")
    if args.pixel_limit is not None and args.pixel_limit <= 0:
        raise ValueError("--pixel-limit must be > 0")
    if is_local(args.output) and os.path.exists(args.output) and not os.path.isdir(args.output):
        raise ValueError(f"--output {args.output} exists and is not a folder")
    if not matches_anything(args.input):
        raise ValueError(f"--input {args.input}: no such file or folder, and no glob match")
    style = args.preset or args.style or DEFAULT_STYLE
    if is_local(style) and not is_saved_model(style):
        check_preset_name(style)
        resolve_preset(style)  # an upstream style is fetched into the cache once, here
    return style


def quiet_beam(pipeline_args):
    """Beam's INFO and WARNING lines (every bundle, every worker) off the terminal; errors stay."""
    import logging

    logging.getLogger().setLevel(logging.ERROR)  # before apache_beam is imported: it warns then
    pipeline_args.append("--default_sdk_harness_log_level=ERROR")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    pipeline_args = []
    if "--verbose" not in argv:
        quiet_beam(pipeline_args)
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    pipeline_args = pipeline_args + unknown  # the command line's own options come last and win

    from cartoongan.beam import BeamJob, resolve_style_folder, run
    from cartoongan.presets import PresetError
    from cartoongan.weights.download import DownloadError

    try:
        style = check_flags(args)
        job = BeamJob(input=args.input, output=args.output, style=style, max_size=args.max_size,
                      image_format=args.format, precision=args.precision, tile_size=args.tile_size,
                      memory_budget=args.memory_budget,
                      pixel_limit=None if args.pixel_limit is None else round(args.pixel_limit * 1e6),
                      max_batch_size=args.max_batch_size,
                      max_file_mb=args.max_file_mb, large_model=args.large_model,
                      verbose=args.verbose)
        job = BeamJob(**{**job.__dict__, "style_folder": resolve_style_folder(job)})
    except (PresetError, DownloadError, OSError) as error:  # OSError: Beam's BeamIOError too
        print(f"cartoonize-beam: error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        parser.error(str(error))
    summary = run(job, pipeline_args)
    print(f"cartoonized {summary.cartoonized}, skipped {summary.skipped} existing, failed {summary.failed}"
          + (f" (listed in {summary.failed_path})" if summary.failed else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
