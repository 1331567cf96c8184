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


def build_parser():
    from cartoongan.precision import PRECISIONS

    parser = argparse.ArgumentParser(
        prog="cartoonize",
        description="Turn photos into anime-style images with pretrained CartoonGAN styles.",
        epilog="Example: cartoonize --input photos/ --output out/ --style hayao shinkai",
    )
    parser.add_argument("--input", nargs="+", metavar="PATH", help="image files, folders (recursive) or globs")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, metavar="DIR",
                        help=f"results go to DIR/<style>/<relative path> (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--style", nargs="+", metavar="NAME",
                        help="style names or preset directories (default: the default style)")
    parser.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE, metavar="N",
                        help=f"shrink so the long side is at most N pixels; 0 keeps the size (default: {DEFAULT_MAX_SIZE})")
    parser.add_argument("--format", choices=("same", "png", "jpg"), default="same",
                        help="output format (default: same as the input)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs instead of skipping them")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="arithmetic of the convolutions (default: auto, the fastest faithful one)")
    parser.add_argument("--list-styles", action="store_true", help="list the available styles and exit")
    return parser


def collect_jobs(inputs, output_dir=None):
    """Expands files, folders and globs into jobs; raises ValueError for paths that match nothing.

    A folder walk never enters `output_dir`: results written inside an input folder (the
    default output of `--input .`) are not inputs of the next run."""
    from cartoongan.images import list_images

    jobs = []
    for pattern in inputs:
        if os.path.exists(pattern):
            matches = [pattern]
        else:
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise ValueError(f"--input {pattern}: no such file or folder, and no glob match")
        for match in matches:
            if os.path.isdir(match):
                jobs += [Job(path, os.path.relpath(path, match)) for path in list_images(match, skip=output_dir)]
            elif os.path.isfile(match):
                jobs.append(Job(match, os.path.basename(match)))
    return jobs


def output_path(output_dir, style, job, image_format):
    stem, extension = os.path.splitext(job.relative_path)
    if image_format == "png":
        extension = ".png"
    elif image_format == "jpg":
        extension = ".jpg"
    elif extension.lower() not in _WRITABLE_EXTENSIONS:
        extension = ".png"
    return os.path.join(output_dir, style_folder(style), stem + extension)


def style_folder(style):
    """The output folder of a style: its name (`hayao`), or for a preset directory the name
    in its config (a trained preset is named after its workdir: `runs/x/preset` -> `x`)."""
    from cartoongan.presets import STYLES, embedded_presets, is_preset_dir, read_preset_config

    if style in STYLES or style in embedded_presets() or not is_preset_dir(style):
        return style
    name = read_preset_config(style).get("name")
    return str(name) if name else os.path.basename(os.path.realpath(style))


def check_plan(args, jobs, styles):
    """Everything that can be wrong with the flags, found before any work starts."""
    from cartoongan.presets import check_preset_name

    if args.max_size < 0:
        raise ValueError("--max-size must be >= 0")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise ValueError(f"--output {args.output} exists and is not a folder")
    for style in styles:
        check_preset_name(style)
    if len({style_folder(s) for s in styles}) != len(styles):
        raise ValueError(f"--style {' '.join(styles)}: two styles would write to the same folder")
    sources = {os.path.realpath(job.source) for job in jobs}
    destinations = {}
    for style in styles:
        for job in jobs:
            destination = output_path(args.output, style, job, args.format)
            real = os.path.realpath(destination)
            if real in sources:
                raise ValueError(f"{destination} would overwrite the input {job.source}")
            if real in destinations:
                raise ValueError(f"{job.source} and {destinations[real]} would both be written to {destination}")
            destinations[real] = job.source


def list_styles():
    from cartoongan.presets import DEFAULT_STYLE, STYLES, available_presets

    for name, origin, local in available_presets():
        description = STYLES[name].description if name in STYLES else "embedded in pretrained/"
        status = "cached" if local and origin == "download" else ("local" if local else "downloaded on first use")
        default = " (default)" if name == DEFAULT_STYLE else ""
        print(f"{name:10s} {status:24s} {description}{default}")


def main(argv=None):
    # TensorFlow's C++ start-up chatter (no CUDA driver, oneDNN notes) buries the progress bar.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_styles:
        list_styles()
        return 0
    if not args.input:
        parser.error("--input is required")

    try:
        jobs = collect_jobs(args.input, args.output)
        if not jobs:
            raise ValueError(f"--input {' '.join(args.input)}: no images found")
        check_plan(args, jobs, args.style or [])
    except ValueError as error:
        parser.error(str(error))
    styles = args.style or [default_style()]
    if not styles[0]:
        return 1
    try:
        check_plan(args, jobs, styles)  # again: the default style's output folder is known now
    except ValueError as error:
        parser.error(str(error))
    return run(args, jobs, styles)


def default_style():
    """The name of the default style, or of its offline stand-in (fetched if needed); ''
    after an error."""
    import warnings

    from cartoongan.presets import resolve_default_preset
    from cartoongan.weights.download import DownloadError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            directory = resolve_default_preset()
        except DownloadError as error:
            print(f"error: default style: {error}", file=sys.stderr)
            return ""
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    return directory.name  # both live under their registered names


def run(args, jobs, styles):
    from tqdm import tqdm

    import tensorflow as tf

    from cartoongan.images import ImageReadError, read_image, resize_to_max, write_image
    from cartoongan.inference import Cartoonizer
    from cartoongan.weights.download import DownloadError

    failed, written, skipped = [], 0, 0
    with tqdm(total=len(jobs) * len(styles), unit="img", desc="cartoonize") as bar:
        for style in styles:
            todo = [job for job in jobs if args.overwrite or not os.path.exists(output_path(args.output, style, job, args.format))]
            skipped += len(jobs) - len(todo)
            bar.update(len(jobs) - len(todo))
            if not todo:
                continue
            bar.set_postfix_str(style_folder(style))
            try:
                cartoonizer = Cartoonizer.from_pretrained(style, precision=args.precision)
            except (DownloadError, OSError, ValueError) as error:
                tqdm.write(f"error: style {style}: {error}", file=sys.stderr)
                failed += [job.source for job in todo]
                bar.update(len(todo))
                continue
            for job in todo:
                try:
                    rgb, alpha = read_image(job.source)
                    rgb, alpha = resize_to_max(rgb, args.max_size, alpha)
                    write_image(output_path(args.output, style, job, args.format), cartoonizer(rgb), alpha)
                    written += 1
                except (ImageReadError, OSError) as error:
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


if __name__ == "__main__":
    sys.exit(main())
