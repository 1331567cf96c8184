"""cartoongan-cartoonize-beam: cartoonize a photo collection of any size with Apache Beam (`cartoongan.beam`).

    python tools/cartoonize_beam.py --input photos/ --output out/ --style hayao_lite \\
        --direct_num_workers 2 --direct_running_mode multi_processing
"""

import argparse
import logging
import sys

from cartoongan.cli.cartoonize import add_image_flags
from cartoongan.cli.flags import usage_error
from cartoongan.presets import ENVIRONMENT

_EPILOG = """Any other flag is a Beam pipeline option, e.g.
  locally:  --direct_num_workers 2 --direct_running_mode multi_processing
  Dataflow: --runner DataflowRunner --project P --region R --temp_location gs://B/tmp
            --sdk_container_image IMAGE (an image with this package installed)
  Flink:    --runner FlinkRunner --flink_master HOST:8081 --environment_type DOCKER
            --environment_config IMAGE

Outputs go to DIR/<style>/<path below the input folder>, as with `cartoonize`; existing
outputs are skipped, so re-running a stopped job does only what is missing. Files that
cannot be read, cartoonized or written are listed in DIR/_failed/failed.jsonl (file and
reason) and counted; they never fail the job (exit status 0).

""" + ENVIRONMENT


def build_parser():
    from cartoongan.beam import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_FILE_MB

    parser = argparse.ArgumentParser(
        prog="cartoongan-cartoonize-beam", epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Cartoonize photos at scale with Apache Beam RunInference (any runner, any Beam filesystem).")
    parser.add_argument("--input", required=True, metavar="PATTERN",
                        help="a folder (searched recursively) or a glob, on any Beam filesystem (gs://, s3://, local)")
    parser.add_argument("--output", required=True, metavar="DIR", help="results go to DIR/<style>/<relative path>")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--style", metavar="NAME", help="a style name (default: hayao; see `cartoonize --list-styles`)")
    which.add_argument("--preset", metavar="DIR",
                       help="a preset folder or an exported SavedModel (.../saved_model), on any Beam filesystem")
    add_image_flags(parser)
    parser.add_argument("--max-batch-size", type=int, default=DEFAULT_MAX_BATCH_SIZE, metavar="N",
                        help=f"images per generator call, at most (default: {DEFAULT_MAX_BATCH_SIZE})")
    parser.add_argument("--max-file-mb", type=float, default=DEFAULT_MAX_FILE_MB, metavar="MB",
                        help=f"larger input files go to the failed list unread (default: {DEFAULT_MAX_FILE_MB})")
    parser.add_argument("--large-model", action="store_true",
                        help="one model per machine, shared by its worker processes (default: one per process)")
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--verbose" not in argv:  # Beam's INFO and WARNING lines (every bundle, every worker) off the terminal
        logging.getLogger().setLevel(logging.ERROR)  # before apache_beam is imported: it warns then
        argv.insert(0, "--default_sdk_harness_log_level=ERROR")  # the command line's own options come later and win
    parser = build_parser()
    args, pipeline_args = parser.parse_known_args(argv)

    from cartoongan import beam
    from cartoongan.presets import DEFAULT_STYLE, PresetError
    from cartoongan.weights.download import DownloadError

    try:
        job = beam.check_job(beam.BeamJob(
            input=args.input, output=args.output, style=args.preset or args.style or DEFAULT_STYLE,
            max_size=args.max_size, image_format=args.format, precision=args.precision, tile_size=args.tile_size,
            memory_budget=args.memory_budget, pixel_limit=args.pixel_limit, max_batch_size=args.max_batch_size,
            max_file_mb=args.max_file_mb, large_model=args.large_model, verbose=args.verbose))
    except (PresetError, DownloadError, OSError) as error:  # OSError: Beam's BeamIOError too
        print(f"cartoongan-cartoonize-beam: error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        usage_error(parser, error, {"image_format": "--format"})
    summary = beam.run(job, pipeline_args)
    print(f"cartoonized {summary.cartoonized}, skipped {summary.skipped} existing, failed {summary.failed}"
          + (f" (listed in {summary.failed_path})" if summary.failed else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
