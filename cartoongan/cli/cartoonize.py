"""cartoonize: turn photos into anime-style images.

    python tools/cartoonize.py --input photos/ --output out/ --style hayao shinkai
"""

import argparse
import glob
import os
import sys
from dataclasses import dataclass

DEFAULT_OUTPUT = "cartoonized"
# Long side cap: a phone photo (12 MP) at full size costs the full generator about a
# minute and several GB on a CPU; 1024 px keeps the look of the style (the networks were
# trained on 256 px crops) at a few seconds per image. 0 disables the cap.
DEFAULT_MAX_SIZE = 1024
_WRITABLE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class Job:
    source: str
    relative_path: str  # where the result goes below DIR/<style>/


_ENVIRONMENT_HELP = """environment:
  CARTOONGAN_HOME         cache of downloaded styles (default: ~/.cache/cartoongan)
  CARTOONGAN_WEIGHTS_URL  where the hosoda, paprika and shinkai weights are fetched from: a base
                          URL (http(s)://, file://) or a folder laid out as <style>/<tensor>.npy
                          (default: the upstream copy in CartoonGan-tensorflow); every file is
                          checked against the sha256 shipped in the package

The default style, hayao, is shipped in pretrained/ and needs no network; hayao_lite is a
small, 5.7x faster model distilled from it.

Example: cartoonize --input photos/ --output out/ --style hayao shinkai"""


def build_parser():
    from cartoongan.precision import PRECISIONS

    parser = argparse.ArgumentParser(
        prog="cartoonize",
        description="Turn photos into anime-style images with pretrained CartoonGAN styles.",
        epilog=_ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", nargs="+", metavar="PATH", help="image or video files, folders (recursive) or globs")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, metavar="DIR",
                        help=f"results go to DIR/<style>/<relative path> (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--style", nargs="+", metavar="NAME",
                        help="style names or preset directories (default: hayao; see --list-styles)")
    parser.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE, metavar="N",
                        help=f"shrink so the long side is at most N pixels; 0 keeps the size (default: {DEFAULT_MAX_SIZE})")
    parser.add_argument("--format", choices=("same", "png", "jpg"), default="same",
                        help="output format (default: same as the input)")
    parser.add_argument("--video-quality", type=int, metavar="CRF",
                        help="videos: the encoder's constant rate factor, lower is better and bigger "
                             "(default: 20 for H.264, 32 for VP9 in .webm)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs instead of skipping them")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="arithmetic of the convolutions (default: auto, the fastest faithful one)")
    parser.add_argument("--tile-size", type=parse_tile_size, default="auto", metavar="auto|0|N",
                        help="run large images in N x N tiles, with the same result as the whole image "
                             "(instance norms use the whole image's statistics); auto: tiles only when the "
                             "whole image would not fit --memory-budget; 0: never (default: auto)")
    parser.add_argument("--memory-budget", type=parse_size_in_bytes, default="1G", metavar="SIZE",
                        help="memory inference may use per image beyond the model, e.g. 800M, 4G; with "
                             "--tile-size auto, larger images run in tiles (default: 1G)")
    parser.add_argument("--pixel-limit", type=float, metavar="MP",
                        help="refuse images over MP megapixels (as decoded) before decoding them "
                             "(default: Pillow's limit, 89.5)")
    parser.add_argument("--list-styles", action="store_true", help="list the available styles and exit")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def parse_tile_size(text):
    if text == "auto":
        return text
    try:
        size = int(text)
    except ValueError:
        size = -1
    if size != 0 and size < 16:
        raise argparse.ArgumentTypeError(f"expected auto, 0 or a tile side of at least 16 pixels, not {text!r}")
    return size


def parse_size_in_bytes(text):
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    number = text.upper().removesuffix("B").removesuffix("I")
    unit = number[-1:] if number[-1:] in units else ""
    try:
        value = float(number[:len(number) - len(unit)]) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size such as 800M or 4G, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive size, not {text!r}")
    return int(value)


def collect_jobs(inputs, output_dir=None, style_folders=()):
    """Expands files, folders and globs into jobs; raises ValueError for paths that match nothing.

    A folder walk never enters what this tool writes: `output_dir` when it lies inside an
    input folder (the default output of `--input .`), and `output_dir/<style>` for the styles
    of the run (so `--output` may equal `--input`, run after run)."""
    from cartoongan.video import list_media

    skip = [os.path.join(output_dir, folder) for folder in style_folders] if output_dir else []
    jobs = []
    for pattern in inputs:
        if os.path.lexists(pattern):
            matches = [pattern]
        else:
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise ValueError(f"--input {pattern}: no such file or folder, and no glob match")
        for match in matches:
            if os.path.isdir(match):
                inside = output_dir and _is_inside(output_dir, match) and not _same_path(output_dir, match)
                jobs += [Job(path, os.path.relpath(path, match))
                         for path in list_media(match, skip=skip + ([output_dir] if inside else []))]
            else:  # files, and special files that the reader refuses by name
                jobs.append(Job(match, os.path.basename(match)))
    return jobs


def _same_path(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def _is_inside(path, folder):
    """Whether `path` is `folder` or below it, after resolving links and `..`."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def output_path(output_dir, style_folder_name, job, image_format):
    from cartoongan.video import is_video

    if is_video(job.relative_path):  # a video keeps its container; --format is for images
        return os.path.join(output_dir, style_folder_name, job.relative_path)
    stem, extension = os.path.splitext(job.relative_path)
    if image_format == "png":
        extension = ".png"
    elif image_format == "jpg":
        extension = ".jpg"
    elif extension.lower() not in _WRITABLE_EXTENSIONS:
        extension = ".png"
    return os.path.join(output_dir, style_folder_name, stem + extension)


def style_folder(style):
    """The output folder of a style: its name (`hayao`), or for a preset directory the name
    in its config (checked when read: one plain path component), else the folder's own name
    made safe (a trained preset is named after its workdir: `runs/x/preset` -> `x`)."""
    from cartoongan.presets import STYLES, embedded_presets, is_preset_dir, preset_name_from_path, read_preset_config

    if style in STYLES or style in embedded_presets() or not is_preset_dir(style):
        return style
    return read_preset_config(style).get("name") or preset_name_from_path(style)


def check_plan(args, jobs, styles, folders):
    """Everything that can be wrong with the plan, found before any work starts: every
    destination stays inside --output, none is an input, no two collide."""
    from cartoongan.video import check_quality, is_video

    if len(set(folders)) != len(folders):
        raise ValueError(f"--style {' '.join(styles)}: two styles would write to the same folder")
    sources = {os.path.realpath(job.source) for job in jobs}
    destinations = {}
    for folder in folders:
        for job in jobs:
            destination = output_path(args.output, folder, job, args.format)
            real = os.path.realpath(destination)
            if not _is_inside(real, args.output) or _same_path(real, args.output):
                raise ValueError(f"{destination} would be written outside --output {args.output}")
            if real in sources:
                raise ValueError(f"{destination} would overwrite the input {job.source}")
            if real in destinations:
                raise ValueError(f"{job.source} and {destinations[real]} would both be written to {destination}")
            destinations[real] = job.source
            if is_video(destination):
                check_quality(destination, args.video_quality)


def check_flags(args):
    from cartoongan.presets import DEFAULT_STYLE, check_preset_name

    if args.max_size < 0:
        raise ValueError("--max-size must be >= 0")
    if args.pixel_limit is not None and args.pixel_limit <= 0:
        raise ValueError("--pixel-limit must be > 0")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise ValueError(f"--output {args.output} exists and is not a folder")
    styles = args.style or [DEFAULT_STYLE]
    for style in styles:
        check_preset_name(style)
    return styles


def list_styles():
    from cartoongan.presets import DEFAULT_STYLE, STYLES, available_presets

    for name, origin, local in available_presets():
        description = STYLES[name].description if name in STYLES else "embedded in pretrained/"
        if origin == "embedded":
            status = "shipped"
        else:
            status = "cached" if local else "downloaded on first use"
        default = " (default)" if name == DEFAULT_STYLE else ""
        print(f"{name:10s} {status:24s} {description}{default}")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_styles:
        list_styles()
        return 0
    if not args.input:
        parser.error("--input is required")

    from cartoongan.presets import PresetError

    try:
        styles = check_flags(args)
        folders = [style_folder(style) for style in styles]
        jobs = collect_jobs(args.input, args.output, folders)
        if not jobs:
            raise ValueError(f"--input {' '.join(args.input)}: no images or videos found")
        check_plan(args, jobs, styles, folders)
    except PresetError as error:
        print(f"cartoonize: error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        parser.error(str(error))
    return run(args, jobs, styles, folders)


def load_cartoonizers(styles, precision, verbose, **options):
    """{style: Cartoonizer}, every style fetched and loaded before any photo is touched;
    a style that cannot be had is a usage error (status 2) naming it and where it was sought."""
    from cartoongan.cli.quiet import import_tensorflow

    import_tensorflow(verbose)
    from cartoongan.inference import Cartoonizer

    return {style: Cartoonizer.from_pretrained(style, precision=precision, **options) for style in styles}


def run(args, jobs, styles, folders):
    from tqdm import tqdm

    from cartoongan.atomic import remove_stale_partials
    from cartoongan.images import ImageReadError, read_image, resize_to_max, write_image
    from cartoongan.presets import PresetError
    from cartoongan.video import VideoError, is_video
    from cartoongan.weights.download import DownloadError

    plan = {}
    for style, folder in zip(styles, folders):
        destinations = {job: output_path(args.output, folder, job, args.format) for job in jobs}
        todo = [job for job in jobs if args.overwrite or not os.path.lexists(destinations[job])]
        plan[style] = (folder, destinations, todo)
    try:
        cartoonizers = load_cartoonizers([s for s in styles if plan[s][2]], args.precision, args.verbose,
                                         tile_size=args.tile_size, memory_budget=args.memory_budget)
    except (DownloadError, PresetError, FileNotFoundError) as error:
        print(f"cartoonize: error: {error}", file=sys.stderr)
        return 2
    import tensorflow as tf

    for folder, destinations, todo in plan.values():
        for directory in {os.path.dirname(destinations[job]) for job in todo}:
            remove_stale_partials(directory)  # temporaries of a killed earlier run

    pixel_limit = None
    if args.pixel_limit is not None:
        from PIL import Image

        pixel_limit = round(args.pixel_limit * 1e6)
        Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS, pixel_limit)  # Pillow's own check, raised to match
    failed, written, skipped = [], 0, 0
    with tqdm(total=len(jobs) * len(styles), unit="img", desc="cartoonize") as bar:
        for style in styles:
            folder, destinations, todo = plan[style]
            skipped += len(jobs) - len(todo)
            bar.update(len(jobs) - len(todo))
            if not todo:
                continue
            bar.set_postfix_str(folder)
            for job in todo:
                try:
                    if is_video(job.source):
                        errors = cartoonize_video_job(cartoonizers[style], job.source, destinations[job], args)
                        for error in errors:  # the frames that decoded were written
                            tqdm.write(f"error: {error}", file=sys.stderr)
                        failed += [job.source] if errors else []
                        written += not errors
                    else:
                        rgb, alpha = read_image(job.source, max_size=args.max_size, pixel_limit=pixel_limit)
                        rgb, alpha = resize_to_max(rgb, args.max_size, alpha)
                        write_image(destinations[job], cartoonizers[style](rgb), alpha)
                        written += 1
                except (ImageReadError, VideoError, OSError) as error:
                    tqdm.write(f"error: {error}", file=sys.stderr)
                    failed.append(job.source)
                except tf.errors.OpError as error:  # e.g. out of memory on a huge image
                    tqdm.write(f"error: {job.source}: {error.message}", file=sys.stderr)
                    failed.append(job.source)
                bar.update()
    print(f"wrote {written}, skipped {skipped} existing (use --overwrite to redo), failed {len(failed)}", file=sys.stderr)
    if failed:
        print("failed: " + ", ".join(sorted(set(failed))), file=sys.stderr)
        return 1
    return 0


def cartoonize_video_job(cartoonizer, source, destination, args):
    """One video, with a progress bar over its frames; returns its decoding problems."""
    from tqdm import tqdm

    from cartoongan.video import cartoonize_video

    bar = None

    def progress(done, total):
        nonlocal bar
        if bar is None:  # frames an earlier run finished count as done, not into the rate
            bar = tqdm(total=total, initial=done, unit="frame", desc=os.path.basename(source), leave=False)
        bar.total = max(total, done)
        bar.update(done - bar.n)

    try:
        result = cartoonize_video(cartoonizer, source, destination, max_size=args.max_size,
                                  quality=args.video_quality, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    resumed = f", {result.resumed_frames} resumed from an earlier run" if result.resumed_frames else ""
    flicker = "" if result.output_change is None else (
        f", consecutive frames differ by {result.output_change:.2f} levels (input: {result.input_change:.2f})")
    tqdm.write(f"{source}: {result.frames} frames{resumed}{flicker}", file=sys.stderr)
    return result.errors


if __name__ == "__main__":
    sys.exit(main())
