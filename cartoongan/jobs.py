"""Cartoonizing files and folders: a run planned in full before any work, then done file by file.

    from cartoongan import jobs
    plan = jobs.plan_run(["photos/"], "cartoonized", ["hayao", "hayao_lite"])
    result = jobs.run_plan(plan, jobs.load_cartoonizers(plan))

`plan_run` expands files, folders (searched recursively) and globs into jobs and gives each
its destination `OUTPUT/<style folder>/<path below the input folder>`. Before anything is
read or written it refuses a plan in which a destination would leave the output folder (a
symlink, a hostile preset name), overwrite an input or be claimed twice. Outputs that exist
are skipped unless `overwrite`, so running the same plan again does only what is missing.
`run_plan` then cartoonizes every image and video, writes each atomically, and collects the
files that fail instead of stopping at them.

The command line (`cartoongan.cli.cartoonize`) parses flags and reports through a `Report`;
the Beam pipeline (`cartoongan.beam`) gives its outputs the same places with `output_path`
and `style_name`. Nothing heavy is imported here: TensorFlow, PIL and PyAV load on use.
"""

import contextlib
import glob
import inspect
import json
import os
import sys
from dataclasses import dataclass
from typing import NamedTuple, Optional

from cartoongan.errors import ParameterError
from cartoongan.options import DEFAULT_FACE_STYLE, LookOptions, PortraitOptions, option
from cartoongan.precision import precision_option
from cartoongan.presets import DEFAULT_STYLE

# Long side cap: a phone photo (12 MP) at full size costs the full generator about a
# minute and several GB on a CPU; 1024 px keeps the look of the style (the networks were
# trained on 256 px crops) at a few seconds per image. 0 disables the cap.
DEFAULT_MAX_SIZE = 1024
DEFAULT_OUTPUT = "cartoonized"
# The Cartoonizer's own default (cartoongan.inference, which loads TensorFlow: not imported here).
DEFAULT_MEMORY_BUDGET = 1 << 30
WRITABLE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
IMAGE_FORMATS = ("same", "png", "jpg")


@dataclass(frozen=True)
class Job:
    source: str
    relative_path: str  # where the result goes below OUTPUT/<style folder>/


# --- values of run options, as text (command lines, configs) -------------------------------


def parse_tile_size(text):
    """`auto`, `0` (never tile) or a tile side of at least 16 pixels -> "auto" or an int."""
    if text == "auto":
        return text
    try:
        size = int(text)
    except ValueError:
        size = -1
    if size != 0 and size < 16:
        raise ValueError(f"expected auto, 0 or a tile side of at least 16 pixels, not {text!r}")
    return size


def parse_size_in_bytes(text):
    """`4096`, `800M`, `1.5G`, `800MiB`, `2GB` (units of 1024) -> a positive number of bytes."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    number = text.upper().removesuffix("B").removesuffix("I")
    unit = number[-1:] if number[-1:] in units else ""
    try:
        value = float(number[:len(number) - len(unit)]) * units[unit]
    except ValueError:
        raise ValueError(f"expected a size such as 800M or 4G, not {text!r}") from None
    if value <= 0:
        raise ValueError(f"expected a positive size, not {text!r}")
    return int(value)


def parse_megapixels(text):
    """`89.5` (megapixels) -> a positive number of pixels (rounded)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf") or round(value * 1e6) == 0:
        raise ValueError(f"expected a positive number of megapixels, not {text!r}")
    return round(value * 1e6)


# --- the options of a run, with their --help text ----------------------------------------


@dataclass(frozen=True)
class RunOptions:
    """What `plan_run` is given besides the image options (the options of `cartoonize`, whose
    --help shows this text and the default)."""

    inputs: Optional[list] = option(None, "image or video files, folders (recursive) or globs", flag="--input",
                                    nargs="+", metavar="PATH", shown_default=None)
    output_dir: str = option(DEFAULT_OUTPUT, "results go to DIR/<style>/<relative path>", flag="--output",
                             metavar="DIR")
    styles: Optional[list] = option(None, "style names or preset directories (see --list-styles)", flag="--style",
                                    nargs="+", metavar="NAME",
                                    shown_default=f"{DEFAULT_STYLE}, shipped in pretrained/: no network needed")
    video_quality: Optional[int] = option(None, "videos: the encoder's constant rate factor, lower is better and "
                                          "bigger", metavar="CRF", shown_default="20 for H.264, 32 for VP9 in .webm")
    overwrite: bool = option(False, "make every output again; without it an existing output is skipped if it was made "
                             "with this run's look (--style-size, --strength, --keep-colors), --max-size and "
                             "--video-quality, replaced if it was made with others, and kept if this tool has no "
                             "record of it")


@dataclass(frozen=True)
class ImageOptions:
    """How each image is cartoonized: options of `cartoonize` and of the Beam pipeline
    (`cartoongan.beam.BeamJob`), whose --help shows this text and the default."""

    max_size: int = option(DEFAULT_MAX_SIZE, "shrink so the long side is at most N pixels; 0 keeps the size",
                           metavar="N")
    image_format: str = option("same", "output format", flag="--format", choices=IMAGE_FORMATS,
                               shown_default="same as the input")
    precision: str = precision_option()
    tile_size: object = option("auto", "run large images in N x N tiles, with the same result as the whole image "
                               "(instance norms use the whole image's statistics); auto: tiles only when the whole "
                               "image would not fit the memory budget; 0: never", type=parse_tile_size,
                               metavar="auto|0|N")
    memory_budget: int = option(DEFAULT_MEMORY_BUDGET, "memory inference may use per image beyond the model, e.g. "
                                "800M, 4G; with tile size auto, larger images run in tiles", type=parse_size_in_bytes,
                                metavar="SIZE", shown_default="1G")
    pixel_limit: Optional[int] = option(None, "refuse images over MP megapixels (as decoded) before decoding them",
                                        type=parse_megapixels, metavar="MP", shown_default="Pillow's limit, 89.5")


# --- planning ------------------------------------------------------------------------------


def style_name(style):
    """The name a style goes by (its output folder, its name on the server): the style's own
    (`hayao`), or for a preset directory the name in its config (checked when read: one
    plain path component), else the folder's own name made safe (a trained preset is named
    after its workdir: `runs/x/preset` -> `x`)."""
    from cartoongan.presets import STYLES, embedded_presets, is_preset_dir, preset_name_from_path, read_preset_config

    if style in STYLES or style in embedded_presets() or not is_preset_dir(style):
        return style
    return read_preset_config(style).get("name") or preset_name_from_path(style)


def output_path(output_dir, style_folder, job, image_format="same"):
    """Where `job`'s result goes: `output_dir/style_folder/<relative path>`, with the
    extension of `image_format` ("png", "jpg", or "same": the input's where it can be
    written, else .png). A video keeps its container whatever the image format."""
    from cartoongan.video import is_video

    if is_video(job.relative_path):
        return os.path.join(output_dir, style_folder, job.relative_path)
    stem, extension = os.path.splitext(job.relative_path)
    if image_format == "png":
        extension = ".png"
    elif image_format == "jpg":
        extension = ".jpg"
    elif extension.lower() not in WRITABLE_EXTENSIONS:
        extension = ".png"
    return os.path.join(output_dir, style_folder, stem + extension)


# Every style folder this tool writes holds this file (hidden: never listed as an input), so
# that a later run reading the output folder as its input skips the folder, whichever style,
# preset or run wrote it. A marker, not a list of known style names: a preset's folder can
# have any name, and a user's own folder of photos that happens to be called `hayao` is input.
STYLE_FOLDER_MARKER = ".cartoongan-style"
STYLE_FOLDER_MARKER_TEXT = "Results of cartoongan: a run whose input is the folder above does not read this one.\n"


def mark_style_folder(folder):
    """Writes the marker of `folder`, a style folder of this tool, unless it is there: never
    replaced, so the records appended to it (see `add_record`) are kept. Complete or absent
    (a temporary linked into place), as an atomic write."""
    import tempfile

    marker = os.path.join(folder, STYLE_FOLDER_MARKER)
    if os.path.lexists(marker):
        return
    os.makedirs(folder, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f"{STYLE_FOLDER_MARKER}.partial-{os.getpid()}-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(STYLE_FOLDER_MARKER_TEXT)
        os.chmod(partial, 0o644)
        try:
            os.link(partial, marker)  # fails where another run marked it first: its records stay
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links
            if not os.path.lexists(marker):
                os.replace(partial, marker)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(partial)


# --- what an output was made with ---------------------------------------------------------
# An output counts as done only if it was made the way this run would make it: the marker of
# its style folder records, one JSON line per output written, the settings that change the
# pixels (the look, the size cap, a video's quality). A re-run with the same settings skips the
# output; one with other settings replaces it (atomically, as every write); an output without a
# record (written before records were kept, or not by this tool) is left alone unless
# `overwrite`. Appending one short line is atomic on local filesystems, and a reader ignores a
# line that a killed writer left torn.


def made_with(look, max_size, destination=None, video_quality=None, portrait=PortraitOptions()):
    """The settings that decide the pixels of `destination` (None: an image): the look's
    fields (`LookOptions.to_dict`, also in the video resume key), the size cap, the face
    style when faces are drawn apart (`PortraitOptions`; absent otherwise, so records written
    before portraits existed still match) and, for a video, the encoder's CRF."""
    from cartoongan.video import check_quality, is_video

    settings = {**look.to_dict(), "max_size": max_size}
    if portrait.portrait:
        settings["face_style"] = portrait.face_style or DEFAULT_FACE_STYLE
    if destination is not None and is_video(destination):
        settings["video_quality"] = check_quality(destination, video_quality)
    return settings


def add_record(style_folder, destination, settings):
    """Records in `style_folder`'s marker that `destination` (a file below it) was made with
    `settings` (see `made_with`); the latest record of a file wins."""
    line = json.dumps({"output": _record_key(style_folder, destination), "made_with": settings}, sort_keys=True)
    with open(os.path.join(style_folder, STYLE_FOLDER_MARKER), "ab+") as marker:
        marker.seek(-1, os.SEEK_END)
        torn = marker.read(1) != b"\n"  # a killed writer's last line: this one must not join it
        marker.write((("\n" if torn else "") + line + "\n").encode())  # one write: never interleaved


def read_records(style_folder):
    """{output path relative to `style_folder`: settings} from its marker ({} when unmarked)."""
    records = {}
    try:
        with open(os.path.join(style_folder, STYLE_FOLDER_MARKER), encoding="utf-8", errors="replace") as marker:
            for line in marker:
                if not line.startswith("{"):
                    continue  # the marker's sentence
                try:
                    record = json.loads(line)
                    records[record["output"]] = record["made_with"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line a killed writer left torn
    except OSError:
        pass
    return records


def _record_key(style_folder, destination):
    return os.path.relpath(destination, style_folder).replace(os.sep, "/")


def marked_style_folders(output_dir):
    """The folders directly below `output_dir` that hold the style folder marker (see
    `mark_style_folder`): what this tool wrote there, in any run."""
    try:
        names = sorted(os.listdir(output_dir))
    except OSError:  # missing, or not a folder
        return []
    return [os.path.join(output_dir, name) for name in names
            if os.path.isfile(os.path.join(output_dir, name, STYLE_FOLDER_MARKER))]


def collect_jobs(inputs, output_dir=None, style_folders=()):
    """Expands files, folders and globs into jobs; ParameterError (`inputs`) for a path that
    matches nothing.

    Nothing a run writes is read as an input (so the output folder may be the input folder,
    run after run, with any styles, wherever the output went): a folder walk or a glob never
    takes `output_dir` when it lies inside an input folder (`--input .` with the default
    output), nor the `style_folders` of this run below `output_dir`, nor anything in a folder
    that an earlier run marked as its style folder, wherever it lies; an input folder that is
    (or lies in) such a folder is refused (ParameterError). A file named on its own is taken
    wherever it lies."""
    from cartoongan.video import list_media

    marked = {}  # folder -> whether it or a folder above it holds the marker
    skip = []
    if output_dir:
        skip = [os.path.join(output_dir, folder) for folder in style_folders] + marked_style_folders(output_dir)
    jobs = []
    for pattern in inputs:
        if os.path.lexists(pattern):
            matches = [pattern]
        else:
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise ParameterError("inputs", "{name} {pattern}: no such file or folder, and no glob match",
                                     pattern=pattern)
            matches = [match for match in matches if not any(_is_inside(match, folder) for folder in skip)
                       and not in_marked_folder(match if os.path.isdir(match) else os.path.dirname(match), marked)]
        for match in matches:
            if os.path.isdir(match):
                if in_marked_folder(match, marked):  # named on its own
                    raise ParameterError("inputs", "{name} {pattern}: a folder of results this tool wrote (it holds "
                                         "{marker}); what is in it is never read as input again (name its files to "
                                         "cartoonize them)", pattern=pattern, marker=STYLE_FOLDER_MARKER)
                inside = output_dir and _is_inside(output_dir, match) and not _same_path(output_dir, match)
                jobs += [Job(path, os.path.relpath(path, match))
                         for path in list_media(match, skip=skip + ([output_dir] if inside else []))
                         if not in_marked_folder(os.path.dirname(path), marked)]
            else:  # files, and special files that the reader refuses by name
                jobs.append(Job(match, os.path.basename(match)))
    return jobs


def in_marked_folder(folder, cache):
    """Whether `folder` or a folder above it is a marked style folder (`cache`: {folder: answer})."""
    folder = os.path.abspath(folder)
    if folder not in cache:
        parent = os.path.dirname(folder)
        cache[folder] = (os.path.isfile(os.path.join(folder, STYLE_FOLDER_MARKER))
                         or (parent != folder and in_marked_folder(parent, cache)))
    return cache[folder]


def _same_path(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def _is_inside(path, folder):
    """Whether `path` is `folder` or below it, after resolving links and `..`."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class StylePlan:
    style: str  # a style name or a preset directory, as given
    folder: str  # its folder below the output: `style_name(style)`
    destinations: dict  # Job -> output path
    todo: tuple  # the jobs to run: outputs missing or made with other settings (every job with `overwrite`)
    replaced: int = 0  # of `todo`, outputs that exist, made with other settings (see `made_with`)


@dataclass(frozen=True)
class Plan:
    """A run, checked: what `plan_run` returns and `run_plan` does."""

    output_dir: str
    jobs: tuple
    styles: tuple  # one StylePlan per style, in the order given
    max_size: int = DEFAULT_MAX_SIZE
    pixel_limit: Optional[int] = None
    video_quality: Optional[int] = None
    look: LookOptions = LookOptions()
    portrait: PortraitOptions = PortraitOptions()

    @property
    def skipped(self):
        """Outputs that exist already, made with this run's settings (or unrecorded), left alone."""
        return sum(len(self.jobs) - len(style.todo) for style in self.styles)

    @property
    def replaced(self):
        """Outputs to be made again: they exist, made with other settings."""
        return sum(style.replaced for style in self.styles)

    def made_with(self, destination):
        """What `destination` is made with in this run (see `made_with`)."""
        return made_with(self.look, self.max_size, destination, self.video_quality, self.portrait)


def plan_run(inputs, output_dir, styles, image_format="same", max_size=DEFAULT_MAX_SIZE, pixel_limit=None,
             video_quality=None, overwrite=False, look=LookOptions(), portrait=PortraitOptions()):
    """The whole run, checked before any work: every style resolvable, every destination
    inside `output_dir` (after resolving links), none of them an input, no two the same, a
    valid `video_quality` for every video's codec.

    `inputs`: files, folders and globs; `styles`: style names or preset directories;
    `image_format`: "same", "png" or "jpg"; `max_size`: long side cap in pixels (0: none);
    `pixel_limit`: images over this many pixels are refused undecoded (None: Pillow's
    limit); `video_quality`: the encoder's CRF (None: the codec's default); `look` and
    `portrait`: the LookOptions and PortraitOptions the outputs are made with.

    An output that exists is skipped when its style folder records that it was made with
    this run's settings (`made_with`), or records nothing of it; one recorded with other
    settings is made again. `overwrite`: every output is made again.

    Raises ParameterError naming the parameter at fault, ValueError for a destination that
    would overwrite an input or be claimed twice (or a video quality out of range) and for
    an unknown style, PresetError for a malformed preset directory."""
    from cartoongan.presets import check_preset_name
    from cartoongan.video import check_quality, is_video

    if max_size < 0:
        raise ParameterError("max_size", "{name} must be >= 0")
    if pixel_limit is not None and pixel_limit <= 0:
        raise ParameterError("pixel_limit", "{name} must be > 0")
    if image_format not in IMAGE_FORMATS:
        raise ParameterError("image_format", "{name} must be one of {formats}, not {value!r}",
                             formats=", ".join(IMAGE_FORMATS), value=image_format)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ParameterError("output_dir", "{name} {output_dir} exists and is not a folder", output_dir=output_dir)
    for style in styles:
        check_preset_name(style)
    folders = [style_name(style) for style in styles]
    if len(set(folders)) != len(folders):
        raise ParameterError("styles", "{name} {styles}: two styles would write to the same folder",
                             styles=" ".join(styles))
    jobs = collect_jobs(inputs, output_dir, folders)
    if not jobs:
        raise ParameterError("inputs", "{name} {inputs}: no images or videos found", inputs=" ".join(inputs))
    sources = {os.path.realpath(job.source) for job in jobs}
    claimed = {}
    plans = []
    for style, folder in zip(styles, folders):
        destinations = {}
        for job in jobs:
            destination = destinations[job] = output_path(output_dir, folder, job, image_format)
            real = os.path.realpath(destination)
            if not _is_inside(real, output_dir) or _same_path(real, output_dir):
                raise ParameterError("output_dir", "{destination} would be written outside {name} {output_dir}",
                                     destination=destination, output_dir=output_dir)
            if real in sources:
                raise ValueError(f"{destination} would overwrite the input {job.source}")
            if real in claimed:
                raise ValueError(f"{job.source} and {claimed[real]} would both be written to {destination}")
            claimed[real] = job.source
            if is_video(destination):
                check_quality(destination, video_quality)
        records = read_records(os.path.join(output_dir, folder))
        todo, replaced = [], 0
        for job in jobs:
            destination = destinations[job]
            if overwrite or not os.path.lexists(destination):
                todo.append(job)
                continue
            recorded = records.get(_record_key(os.path.join(output_dir, folder), destination))
            if recorded is not None and recorded != made_with(look, max_size, destination, video_quality, portrait):
                todo.append(job)
                replaced += 1
        plans.append(StylePlan(style, folder, destinations, tuple(todo), replaced))
    return Plan(output_dir, tuple(jobs), tuple(plans), max_size, pixel_limit, video_quality, look, portrait)


def load_cartoonizers(plan, precision="auto", **options):
    """{style: Cartoonizer} for every style of `plan` with work to do, each fetched and
    loaded before any photo is touched. `options` go to `Cartoonizer.from_pretrained`
    (`tile_size`, `memory_budget`). A plan with nothing to do loads nothing, TensorFlow
    included (importing it takes seconds)."""
    if not any(style.todo for style in plan.styles):
        return {}
    from cartoongan.inference import Cartoonizer

    return {style.style: Cartoonizer.from_pretrained(style.style, precision=precision, **options)
            for style in plan.styles if style.todo}


# --- running -------------------------------------------------------------------------------


class Report:
    """What `run_plan` tells its caller as it goes; every method does nothing here. A
    command line overrides them with progress bars and messages."""

    def skipped(self, count):
        """`count` outputs existed and were left alone."""

    def style_started(self, style):
        """The jobs of a StylePlan start."""

    def file_done(self, job):
        """A job ended, written or failed."""

    def error(self, message):
        """A file failed, or a video had frames that did not decode; `message` names it."""

    def video_progress(self, job, done, total):
        """Frames of a video finished so far (`total`: an estimate where the container
        does not say; `done` counts frames an earlier, killed run finished)."""

    def image_progress(self, job, done, total, pass_number, passes):
        """An image that runs in tiles: `done` of `total` tiles over all passes, in pass
        `pass_number` (from 1) of `passes` (see `cartoongan.tiling.TiledGenerator`)."""

    def video_done(self, job, result):
        """A video was written; `result` is its `cartoongan.video.VideoResult`."""


class RunResult(NamedTuple):
    written: int
    skipped: int
    failed: list  # sources that failed, sorted, each once


def cartoonize_file(cartoonizer, source, destination, max_size=DEFAULT_MAX_SIZE, pixel_limit=None,
                    video_quality=None, video_progress=None, image_progress=None):
    """One image or video, `source` -> `destination`, written atomically.

    Images are decoded (refused over `pixel_limit` pixels before decoding), shrunk to
    `max_size` and written with their alpha channel where the format keeps one;
    `image_progress(done, total, pass_number, passes)` follows an image that runs in tiles
    (a cartoonizer that takes a `progress` argument, as `Cartoonizer` does). Returns None
    for an image, the `VideoResult` for a video (its `errors`: frames that did not decode;
    the rest is written). Raises ImageReadError, VideoError or OSError for a file that
    cannot be read or written."""
    from cartoongan.images import read_image, resize_to_max, write_image
    from cartoongan.video import cartoonize_video, is_video

    if is_video(source):
        return cartoonize_video(cartoonizer, source, destination, max_size=max_size, quality=video_quality,
                                progress=video_progress)
    rgb, alpha = read_image(source, max_size=max_size, pixel_limit=pixel_limit)
    rgb, alpha = resize_to_max(rgb, max_size, alpha)
    follows = image_progress is not None and "progress" in inspect.signature(cartoonizer).parameters
    write_image(destination, cartoonizer(rgb, progress=image_progress) if follows else cartoonizer(rgb), alpha)
    return None


def run_plan(plan, cartoonizers, report=None):
    """Runs every job of `plan` still to do with `cartoonizers` ({style: callable uint8 RGB ->
    uint8 RGB}, see `load_cartoonizers`) and returns a RunResult.

    A file that cannot be read, cartoonized or written is reported and counted as failed;
    the run goes on with the next. Temporaries that a killed earlier run left in the output
    folders are removed first. The plan's `pixel_limit` also raises Pillow's own
    decompression-bomb limit to match, for the whole process."""
    from cartoongan.atomic import remove_stale_partials
    from cartoongan.images import ImageReadError
    from cartoongan.video import VideoError

    report = report or Report()
    # TensorFlow's errors (out of memory on a huge image) are caught when it is loaded;
    # a run with other cartoonizers never imports it.
    op_error = sys.modules["tensorflow"].errors.OpError if "tensorflow" in sys.modules else ()
    for style in plan.styles:
        for directory in {os.path.dirname(style.destinations[job]) for job in style.todo}:
            remove_stale_partials(directory)
    if plan.pixel_limit is not None:
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS, plan.pixel_limit)
    written, failed = 0, []
    for style in plan.styles:
        report.skipped(len(plan.jobs) - len(style.todo))
        if not style.todo:
            continue
        report.style_started(style)
        marked = False
        for job in style.todo:
            try:
                video = cartoonize_file(cartoonizers[style.style], job.source, style.destinations[job], plan.max_size,
                                        plan.pixel_limit, plan.video_quality,
                                        lambda done, total, job=job: report.video_progress(job, done, total),
                                        lambda *tiles, job=job: report.image_progress(job, *tiles))
                style_folder = os.path.join(plan.output_dir, style.folder)
                if not marked:  # after the first file written: a run that writes nothing leaves nothing
                    mark_style_folder(style_folder)
                    marked = True
                add_record(style_folder, style.destinations[job], plan.made_with(style.destinations[job]))
                errors = [] if video is None else video.errors
                if video is not None:
                    report.video_done(job, video)
                for error in errors:
                    report.error(str(error))
                failed += [job.source] if errors else []
                written += not errors
            except (ImageReadError, VideoError, OSError) as error:
                report.error(str(error))
                failed.append(job.source)
            except op_error as error:
                report.error(f"{job.source}: {error.message}")
                failed.append(job.source)
            report.file_done(job)
    return RunResult(written, plan.skipped, sorted(set(failed)))
