"""cartoonize: turn photos and videos into anime-style images (the work: `cartoongan.jobs`).

    python tools/cartoonize.py --input photos/ --output out/ --style hayao shinkai
"""

import argparse
import contextlib
import logging
import os
import sys

from cartoongan.cli.flags import add_config_flags, flag_names, usage_error
from cartoongan.jobs import ImageOptions, RunOptions
from cartoongan.options import LookOptions, PortraitOptions
from cartoongan.presets import ENVIRONMENT

FLAGS = {**flag_names(RunOptions), **flag_names(ImageOptions)}  # not --field
RERUNS = """Running again: the same command does only what is missing. Each style folder records in its
hidden .cartoongan-style file what every output was made with; a run with another look
(--style-size, --strength, --keep-colors), --max-size or --video-quality replaces the outputs
made otherwise, each atomically (to keep both, give another --output). Results are never read
as input again, wherever they lie below --input."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="cartoonize", description="Turn photos into anime-style images with pretrained CartoonGAN styles.",
        epilog=RERUNS + "\n\n" + ENVIRONMENT + "\n\nExample: cartoonize --input photos/ --output out/ --style hayao shinkai",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_flags(parser, RunOptions, defaults=True)
    parser.add_argument("--list-styles", action="store_true", help="list the available styles and exit")
    add_config_flags(parser, ImageOptions, defaults=True)
    add_config_flags(parser, LookOptions, defaults=True)
    add_config_flags(parser, PortraitOptions, defaults=True)
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def list_styles():
    from cartoongan.presets import DEFAULT_STYLE, available_presets, read_preset_config, resolve_preset, style_summary

    presets = available_presets()
    width = max(len(name) for name, _, _ in presets)  # one column of names, however long
    for name, origin, local in presets:
        config = read_preset_config(resolve_preset(name)) if origin == "embedded" else None
        description, license, _ = style_summary(name, config)
        status = "shipped" if origin == "embedded" else "cached" if local else "downloaded on first use"
        print(f"{name:{width}s} {status:24s} {description}{' (default)' if name == DEFAULT_STYLE else ''}")
        print(f"{'':{width}s} {'':24s} licence: {license}")


class TerminalReport:
    """`cartoongan.jobs.Report` on stderr: a bar over the files, one over each video's frames
    and one over the tiles of an image that runs in tiles (a full-resolution photo takes
    minutes: `pass 3/22` and a tile count, not a bar standing at 0/1)."""

    def __init__(self, total):
        from tqdm import tqdm

        self.tqdm, self.video_bar, self.tile_bar = tqdm, None, None
        self.portrait_messages = []
        self.bar = tqdm(total=total, unit="img", desc="cartoonize")

    def skipped(self, count):
        self.bar.update(count)

    @contextlib.contextmanager
    def portraits_said(self):
        """While open, how each photo's faces were drawn (cartoongan.portrait's log) is said
        above the bar when the photo is done."""
        said = self.portrait_messages

        class Handler(logging.Handler):
            def emit(self, record):
                said.append(record.getMessage())

        logger, handler = logging.getLogger("cartoongan.portrait"), Handler(logging.INFO)
        level = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)

    def style_started(self, style):
        self.bar.set_postfix_str(style.folder)

    def file_done(self, job):
        for message in self.portrait_messages:
            self.tqdm.write(f"{job.source}: {message}", file=sys.stderr)
        self.portrait_messages.clear()
        if self.tile_bar is not None:
            self.tile_bar.close()
            self.tile_bar = None
        self.bar.update()

    def error(self, message):
        self.tqdm.write(f"error: {message}", file=sys.stderr)

    def video_progress(self, job, done, total):
        if self.video_bar is None:  # frames an earlier run finished count as done, not into the rate
            self.video_bar = self.tqdm(total=total, initial=done, unit="frame", desc=os.path.basename(job.source),
                                       leave=False)
        self.video_bar.total = max(total, done)
        self.video_bar.update(done - self.video_bar.n)

    def image_progress(self, job, done, total, pass_number, passes):
        if self.tile_bar is None:
            self.tile_bar = self.tqdm(total=total, unit="tile", leave=False)
        self.tile_bar.set_description_str(f"{os.path.basename(job.source)} pass {pass_number}/{passes}")
        self.tile_bar.update(done - self.tile_bar.n)

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
    if not args.inputs:
        parser.error("--input is required")

    from cartoongan import jobs
    from cartoongan.presets import DEFAULT_STYLE, PresetError
    from cartoongan.tf_runtime import import_tensorflow
    from cartoongan.weights.download import DownloadError

    try:  # every check, and every style fetched and loaded, before any photo is touched
        look = LookOptions(args.style_size, args.strength, args.keep_colors)
        portrait = PortraitOptions(args.portrait, args.face_style)
        plan = jobs.plan_run(args.inputs, args.output_dir, args.styles or [DEFAULT_STYLE], args.image_format,
                             args.max_size, args.pixel_limit, args.video_quality, args.overwrite, look, portrait)
        if any(style.todo for style in plan.styles):  # a re-run with every output present loads nothing
            import_tensorflow(args.verbose)
        cartoonizers = jobs.load_cartoonizers(plan, args.precision, tile_size=args.tile_size,
                                              memory_budget=args.memory_budget, **look.to_dict(),
                                              **portrait.to_dict())
    except (DownloadError, PresetError, FileNotFoundError) as error:  # a style that cannot be had
        print(f"cartoonize: error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        usage_error(parser, error, FLAGS)
    report = TerminalReport(total=len(plan.jobs) * len(plan.styles))
    with report.bar, report.portraits_said() if portrait.portrait else contextlib.nullcontext():
        result = jobs.run_plan(plan, cartoonizers, report)
    replaced = f" ({plan.replaced} replacing outputs made with other settings)" if plan.replaced else ""
    print(f"wrote {result.written}{replaced}, skipped {result.skipped} existing (use --overwrite to redo), "
          f"failed {len(result.failed)}", file=sys.stderr)
    if result.failed:
        print("failed: " + ", ".join(result.failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
