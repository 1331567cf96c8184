"""cartoonize: turn photos and videos into anime-style images (the work: `cartoongan.jobs`).

    python tools/cartoonize.py --input photos/ --output out/ --style hayao shinkai
"""

import argparse
import os
import sys

from cartoongan.cli.flags import flag_type, usage_error
from cartoongan.jobs import DEFAULT_MAX_SIZE, IMAGE_FORMATS, parse_megapixels, parse_size_in_bytes, parse_tile_size
from cartoongan.presets import ENVIRONMENT

DEFAULT_OUTPUT = "cartoonized"
FLAGS = {"inputs": "--input", "output_dir": "--output", "styles": "--style", "image_format": "--format"}  # not --field
_EPILOG = ENVIRONMENT + """

The default style, hayao, is shipped in pretrained/ and needs no network; hayao_lite is a
small, 5.7x faster model distilled from it.

Example: cartoonize --input photos/ --output out/ --style hayao shinkai"""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="cartoonize", description="Turn photos into anime-style images with pretrained CartoonGAN styles.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", nargs="+", metavar="PATH", help="image or video files, folders (recursive) or globs")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, metavar="DIR",
                        help=f"results go to DIR/<style>/<relative path> (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--style", nargs="+", metavar="NAME",
                        help="style names or preset directories (default: hayao; see --list-styles)")
    parser.add_argument("--video-quality", type=int, metavar="CRF",
                        help="videos: the encoder's constant rate factor, lower is better and bigger "
                             "(default: 20 for H.264, 32 for VP9 in .webm)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs instead of skipping them")
    parser.add_argument("--list-styles", action="store_true", help="list the available styles and exit")
    add_image_flags(parser)
    return parser


def add_image_flags(parser):
    """The flags of how each image is cartoonized, shared with cartoongan-cartoonize-beam."""
    from cartoongan.precision import PRECISIONS

    parser.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE, metavar="N",
                        help=f"shrink so the long side is at most N pixels; 0 keeps the size (default: {DEFAULT_MAX_SIZE})")
    parser.add_argument("--format", choices=IMAGE_FORMATS, default="same", help="output format (default: same as the input)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="arithmetic of the convolutions (default: auto, the fastest faithful one)")
    parser.add_argument("--tile-size", type=flag_type(parse_tile_size), default="auto", metavar="auto|0|N",
                        help="run large images in N x N tiles, with the same result as the whole image "
                             "(instance norms use the whole image's statistics); auto: tiles only when the "
                             "whole image would not fit --memory-budget; 0: never (default: auto)")
    parser.add_argument("--memory-budget", type=flag_type(parse_size_in_bytes), default="1G", metavar="SIZE",
                        help="memory inference may use per image beyond the model, e.g. 800M, 4G; with "
                             "--tile-size auto, larger images run in tiles (default: 1G)")
    parser.add_argument("--pixel-limit", type=flag_type(parse_megapixels), metavar="MP",
                        help="refuse images over MP megapixels (as decoded) before decoding them "
                             "(default: Pillow's limit, 89.5)")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")


def list_styles():
    from cartoongan.presets import DEFAULT_STYLE, STYLES, available_presets

    for name, origin, local in available_presets():
        description = STYLES[name].description if name in STYLES else "embedded in pretrained/"
        status = "shipped" if origin == "embedded" else "cached" if local else "downloaded on first use"
        print(f"{name:10s} {status:24s} {description}{' (default)' if name == DEFAULT_STYLE else ''}")


class TerminalReport:
    """`cartoongan.jobs.Report` on stderr: a bar over the files, one over each video's frames."""

    def __init__(self, total):
        from tqdm import tqdm

        self.tqdm, self.video_bar = tqdm, None
        self.bar = tqdm(total=total, unit="img", desc="cartoonize")

    def skipped(self, count):
        self.bar.update(count)

    def style_started(self, style):
        self.bar.set_postfix_str(style.folder)

    def file_done(self, job):
        self.bar.update()

    def error(self, message):
        self.tqdm.write(f"error: {message}", file=sys.stderr)

    def video_progress(self, job, done, total):
        if self.video_bar is None:  # frames an earlier run finished count as done, not into the rate
            self.video_bar = self.tqdm(total=total, initial=done, unit="frame", desc=os.path.basename(job.source),
                                       leave=False)
        self.video_bar.total = max(total, done)
        self.video_bar.update(done - self.video_bar.n)

    def video_done(self, job, result):
        if self.video_bar is not None:
            self.video_bar.close()
            self.video_bar = None
        resumed = f", {result.resumed_frames} resumed from an earlier run" if result.resumed_frames else ""
        flicker = "" if result.output_change is None else (
            f", consecutive frames differ by {result.output_change:.2f} levels (input: {result.input_change:.2f})")
        self.tqdm.write(f"{job.source}: {result.frames} frames{resumed}{flicker}", file=sys.stderr)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_styles:
        list_styles()
        return 0
    if not args.input:
        parser.error("--input is required")

    from cartoongan import jobs
    from cartoongan.presets import DEFAULT_STYLE, PresetError
    from cartoongan.tf_runtime import import_tensorflow
    from cartoongan.weights.download import DownloadError

    try:  # every check, and every style fetched and loaded, before any photo is touched
        plan = jobs.plan_run(args.input, args.output, args.style or [DEFAULT_STYLE], args.format, args.max_size,
                             args.pixel_limit, args.video_quality, args.overwrite)
        import_tensorflow(args.verbose)
        cartoonizers = jobs.load_cartoonizers(plan, args.precision, tile_size=args.tile_size,
                                              memory_budget=args.memory_budget)
    except (DownloadError, PresetError, FileNotFoundError) as error:  # a style that cannot be had
        print(f"cartoonize: error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        usage_error(parser, error, FLAGS)
    report = TerminalReport(total=len(plan.jobs) * len(plan.styles))
    with report.bar:
        result = jobs.run_plan(plan, cartoonizers, report)
    print(f"wrote {result.written}, skipped {result.skipped} existing (use --overwrite to redo), "
          f"failed {len(result.failed)}", file=sys.stderr)
    if result.failed:
        print("failed: " + ", ".join(result.failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
