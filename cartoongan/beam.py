"""Cartoonizing photo collections of any size on Apache Beam (DirectRunner, Dataflow, Flink, Spark).

    from cartoongan.beam import BeamJob, run
    summary = run(BeamJob(input="photos/", output="cartoonized", style="hayao_lite"),
                  ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"])

The pipeline, step by step (every step is a piece below, usable on its own):

1. `ListPhotos`: the input pattern is matched on a worker (`fileio.MatchAll`, any Beam
   filesystem), each file gets the CLI's destination `DIR/<style>/<relative path>`
   (`cartoongan.jobs.output_path`), files are grouped by destination (two inputs
   that would write one output both fail, by name) and existing outputs are skipped there
   if made with the job's look and size (the records of the CLI's style folder marker,
   `cartoongan.jobs.made_with`; an output without a record is skipped too): a re-run only
   does what is missing or was made otherwise. Files in folders of earlier results (marked
   style folders) are never inputs. The grouping also spreads the files over workers.
2. `ReadPhotos`: `cartoongan.images.read_image` (a remote file is copied to a local temporary
   one first, so both decode alike), then `resize_to_max`, as the CLI does.
3. `RunInference` with `KeyedModelHandler(CartoonModelHandler(...))`: keyed by file, one
   model per worker process (or one per machine with `large_model`), batches of up to
   `max_batch_size` images where images of one size run as one generator call.
4. `WriteCartoons`: `cartoongan.images.write_image` (atomic; remote destinations: encoded by
   the same writer locally, copied to a temporary name and renamed).

Every failure of one file (undecodable, too large, unwritable, two inputs for one output, the
generator failing on it) becomes a record `{"file": ..., "reason": ...}` in
`DIR/_failed/failed.jsonl`, never a failed job; the metrics `cartoonized`, `skipped` and
`failed` (namespace `cartoongan`) count the outcomes and `run` returns them.
"""

import contextlib
import dataclasses
import json
import os
import posixpath
import shutil
import tempfile
from typing import NamedTuple, Optional

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference

from cartoongan.jobs import (
    DEFAULT_MAX_SIZE,
    STYLE_FOLDER_MARKER,
    STYLE_FOLDER_MARKER_TEXT,
    Job,
    add_record,
    in_marked_folder,
    made_with,
    mark_style_folder,
    output_path,
    read_records,
)
from cartoongan.options import option, required

FAILED_FOLDER = "_failed"  # DIR/_failed/failed.jsonl: no style folder can be named so
FAILED_FILE = "failed.jsonl"
METRICS_NAMESPACE = "cartoongan"
# Images per generator call, at most (Beam's BatchElements adapts the size below it; images
# of one size run as one call). On a CPU one image per call is fastest: hayao_lite took 0.41 s
# a photo alone and 0.60 s in batches of four on the 2-core machine of benchmarks/beam.py
# (the working set outgrows the caches). Raise it on an accelerator.
DEFAULT_MAX_BATCH_SIZE = 1
# Files larger than this are not read: no photo is, and a worker must not load gigabytes
# because of one stray file. (Decoded size is bounded by PIL's decompression-bomb check.)
DEFAULT_MAX_FILE_MB = 256
_WILDCARDS = "*?["
# How a job runs and what it leaves (cartoongan-cartoonize-beam --help says it): `run`'s
# pipeline_args, and the outcomes.
PIPELINE_HELP = """Any other flag is a Beam pipeline option, e.g.
  locally:  --direct_num_workers 2 --direct_running_mode multi_processing
  Dataflow: --runner DataflowRunner --project P --region R --temp_location gs://B/tmp
            --sdk_container_image IMAGE (an image with this package installed)
  Flink:    --runner FlinkRunner --flink_master HOST:8081 --environment_type DOCKER
            --environment_config IMAGE

Outputs go to DIR/<style>/<path below the input folder>, as with `cartoonize`; existing
outputs made with the same look and --max-size are skipped, so re-running a stopped job does
only what is missing, and a run with another look replaces the outputs made otherwise (on a
local DIR: object stores keep no record, and there every existing output is skipped).
Results of earlier runs (folders holding .cartoongan-style) are never read as input. Files that
cannot be read, cartoonized or written are listed in DIR/_failed/failed.jsonl (file and
reason) and counted; they never fail the job (exit status 0)."""


@dataclasses.dataclass(frozen=True)
class BeamJob:
    """What to cartoonize and how: the options of `cartoongan-cartoonize-beam`, whose --help
    shows the help texts here and, for the image options, those of `cartoongan.jobs.ImageOptions`.

    `style`: a style name, a preset directory or a SavedModel exported by
    `cartoongan.export` (`.../saved_model`), local or on any Beam filesystem."""

    input: str = required("a folder (searched recursively) or a glob, on any Beam filesystem (gs://, s3://, local)",
                          metavar="PATTERN")
    output: str = required("results go to DIR/<style>/<relative path>", metavar="DIR")
    style: str = option("hayao", "a style name (see `cartoonize --list-styles`)", metavar="NAME")
    # How each image is cartoonized: as cartoongan.jobs.ImageOptions, the CLI's options
    max_size: int = DEFAULT_MAX_SIZE
    image_format: str = "same"
    precision: str = "auto"
    tile_size: object = "auto"  # "auto", 0 or a side
    memory_budget: Optional[int] = None  # bytes; None: the Cartoonizer's default
    pixel_limit: Optional[int] = None  # pixels; None: Pillow's limit
    # The look, as cartoongan.options.LookOptions (a SavedModel runs as it was exported)
    style_size: int = 0
    strength: float = 1.0
    keep_colors: bool = False
    # Faces by a face style, as cartoongan.options.PortraitOptions (styles and presets only)
    portrait: bool = False
    face_style: Optional[str] = None
    max_batch_size: int = option(DEFAULT_MAX_BATCH_SIZE, "images per generator call, at most", metavar="N")
    max_file_mb: float = option(DEFAULT_MAX_FILE_MB, "larger input files go to the failed list unread", metavar="MB")
    large_model: bool = option(False, "one model per machine, shared by its worker processes (default: one per "
                               "process)")
    style_folder: Optional[str] = None  # the output folder; None: the style's (see `style_folder`)
    verbose: bool = False


class Task(NamedTuple):
    """The key of an image through the pipeline: where it comes from and where it goes."""

    source: str
    destination: str


class Photo(NamedTuple):
    """The example RunInference sees: the pixels for the generator and the alpha channel
    (or None), which the writer puts back."""

    rgb: np.ndarray
    alpha: Optional[np.ndarray]


class Summary(NamedTuple):
    cartoonized: int
    skipped: int
    failed: int
    failed_path: str


def is_local(path):
    return FileSystems.get_scheme(path) is None


def failed_path(output_dir):
    return FileSystems.join(output_dir, FAILED_FOLDER, FAILED_FILE)


def _join(base, *parts):
    return os.path.join(base, *parts) if is_local(base) else FileSystems.join(base, *parts)


def input_plan(pattern):
    """-> (glob to match, base folder for relative paths, whether it names a folder).

    As in the CLI, a folder is searched recursively (image names only, hidden entries left
    out) and results keep their path below it; a glob's results keep their path below the
    glob's fixed leading folder (its file name for `photos/*.jpg`, as the CLI)."""
    if not any(char in pattern for char in _WILDCARDS):
        if os.path.isdir(pattern) if is_local(pattern) else _is_remote_folder(pattern):
            return _join(pattern, "**"), pattern, True
        return pattern, _dirname(pattern), False
    parts = pattern.replace(os.sep, "/").split("/") if is_local(pattern) else pattern.split("/")
    fixed = []
    for part in parts[:-1]:
        if any(char in part for char in _WILDCARDS):
            break
        fixed.append(part)
    return pattern, "/".join(fixed) or ".", False


def _is_remote_folder(path):
    # Object stores have no folders: `gs://b/photos` names one if objects lie below it.
    if path.endswith("/"):
        return True
    return not FileSystems.exists(path) and bool(FileSystems.match([path.rstrip("/") + "/**"], [1])[0].metadata_list)


def matches_anything(pattern):
    """Whether the input pattern (see `input_plan`) matches at least one file."""
    glob_pattern, _, _ = input_plan(pattern)
    return bool(FileSystems.match([glob_pattern], [1])[0].metadata_list)


def _dirname(path):
    return os.path.dirname(path) if is_local(path) else posixpath.dirname(path)


def relative_path(path, base):
    if is_local(path):
        return os.path.relpath(path, base)
    return path[len(base.rstrip("/")) + 1:] if path.startswith(base.rstrip("/") + "/") else posixpath.basename(path)


def _is_below(path, folder):
    if is_local(path) and is_local(folder):
        path, folder = os.path.realpath(path), os.path.realpath(folder)
        return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
    return path.startswith(folder.rstrip("/") + "/")


def _record(source, reason):
    return {"file": source, "reason": reason}


class PlanTasks(beam.DoFn):
    """FileMetadata -> (destination, (source, size)), with the CLI's `output_path`.

    Files of the style folder being written, of `DIR/_failed`, of the `written` folders (the
    style folders earlier runs marked, see `written_style_folders`), of any other marked
    style folder (a local file's folders are looked at) and (for a folder input) of `DIR`
    when it lies inside that folder are never inputs, as in the CLI."""

    def __init__(self, job, base, from_folder, folder, written=()):
        self._job, self._base, self._from_folder, self._folder = job, base, from_folder, folder
        self._written = tuple(written)
        self._marked = {}

    def process(self, metadata):
        from cartoongan.images import IMAGE_EXTENSIONS

        source = metadata.path
        relative = relative_path(source, self._base)
        if self._from_folder:
            parts = relative.replace(os.sep, "/").split("/")
            if any(part.startswith(".") for part in parts) or not source.lower().endswith(IMAGE_EXTENSIONS):
                return
            inside = _is_below(self._job.output, self._base) and not _is_below(self._base, self._job.output)
            if inside and _is_below(source, self._job.output):
                return
        for written in (_join(self._job.output, self._folder), _join(self._job.output, FAILED_FOLDER), *self._written):
            if _is_below(source, written):
                return
        if is_local(source) and in_marked_folder(os.path.dirname(source), self._marked):
            return
        destination = output_path(self._job.output, self._folder, Job(source, relative), self._job.image_format)
        yield destination, (source, metadata.size_in_bytes)


class ChoosePending(beam.DoFn):
    """(destination, [(source, size), ...]) -> (Task, size) for outputs missing, or recorded
    as made with settings other than `settings` (`records`: {destination: settings}, see
    `recorded_outputs`); a destination claimed by two inputs, or equal to its input, fails
    for each of them."""

    def __init__(self, settings=None, records=None):
        self._skipped = Metrics.counter(METRICS_NAMESPACE, "skipped")
        self._failed = Metrics.counter(METRICS_NAMESPACE, "failed")
        self._settings, self._records = settings, records or {}

    def process(self, element):
        destination, claims = element
        claims = sorted(claims)
        if len(claims) > 1:
            names = " and ".join(source for source, _ in claims)
            for source, _ in claims:
                self._failed.inc()
                yield beam.pvalue.TaggedOutput("failed", _record(source, f"{names} would both be written to {destination}"))
            return
        source, size = claims[0]
        if _same_file(source, destination):
            self._failed.inc()
            yield beam.pvalue.TaggedOutput("failed", _record(source, f"{destination} would overwrite the input"))
        elif _exists(destination) and self._records.get(destination, self._settings) == self._settings:
            self._skipped.inc()
        else:
            yield Task(source, destination), size


def job_settings(job):
    """What the job's outputs are made with (`cartoongan.jobs.made_with`: the look, max_size,
    the face style of a portrait job)."""
    from cartoongan.options import LookOptions, PortraitOptions

    return made_with(LookOptions(job.style_size, job.strength, job.keep_colors), job.max_size,  # images only
                     portrait=PortraitOptions(job.portrait, job.face_style))


def recorded_outputs(style_dir):
    """{destination: settings} recorded in a local style folder's marker ({} elsewhere: an
    object store has no append, and its outputs are judged by their existence alone)."""
    if not is_local(style_dir):
        return {}
    return {os.path.join(style_dir, *relative.split("/")): settings
            for relative, settings in read_records(style_dir).items()}


def _same_file(a, b):
    if is_local(a) and is_local(b):
        return os.path.realpath(a) == os.path.realpath(b)
    return a == b


def _exists(path):
    return os.path.lexists(path) if is_local(path) else FileSystems.exists(path)


class ListPhotos(beam.PTransform):
    """pipeline -> (Task, size in bytes) for every input whose output is missing; tagged
    output `failed`: failure records. See `input_plan` for how the pattern is read."""

    def __init__(self, job, folder, written=()):
        super().__init__()
        self._job, self._folder, self._written = job, folder, written
        self._records = recorded_outputs(_join(job.output, folder))

    def expand(self, pipeline):
        pattern, base, from_folder = input_plan(self._job.input)
        planned = (
            pipeline
            | "Pattern" >> beam.Create([pattern])
            | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
            | "Plan" >> beam.ParDo(PlanTasks(self._job, base, from_folder, self._folder, self._written))
        )
        return (
            planned
            | "ByDestination" >> beam.GroupByKey()
            | "Pending" >> beam.ParDo(ChoosePending(job_settings(self._job), self._records)).with_outputs(
                "failed", main="pending")
        )


class ReadPhotos(beam.DoFn):
    """(Task, size) -> (Task, Photo), decoded and resized as the CLI does (`max_size`,
    `pixel_limit`); failures tagged `failed`."""

    def __init__(self, max_size, max_file_mb=DEFAULT_MAX_FILE_MB, pixel_limit=None):
        self._max_size, self._max_bytes = max_size, int(max_file_mb * 2**20)
        self._pixel_limit = pixel_limit
        self._failed = Metrics.counter(METRICS_NAMESPACE, "failed")

    def setup(self):
        if self._pixel_limit is not None:
            from PIL import Image

            Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS, self._pixel_limit)  # as the CLI does

    def process(self, element):
        from cartoongan.images import ImageReadError, resize_to_max

        task, size = element
        try:
            if size is not None and size > self._max_bytes:
                raise ImageReadError(f"{task.source}: {size} bytes, over the limit of {self._max_bytes}; skipped")
            rgb, alpha = read_photo(task.source, max_size=self._max_size, pixel_limit=self._pixel_limit)
            rgb, alpha = resize_to_max(rgb, self._max_size, alpha)
        except (ImageReadError, OSError) as error:  # Beam's BeamIOError is an OSError
            self._failed.inc()
            yield beam.pvalue.TaggedOutput("failed", _record(task.source, str(error)))
            return
        yield task, Photo(rgb, alpha)


def read_photo(path, max_size=0, pixel_limit=None):
    """`cartoongan.images.read_image` for a path on any Beam filesystem: a remote file is
    copied to a local temporary file and read from there, so that every decoding rule of
    the CLI (formats, pixel limit, JPEG draft decoding under `max_size`) applies alike."""
    from cartoongan.images import ImageReadError, read_image

    if is_local(path):
        return read_image(path, max_size=max_size, pixel_limit=pixel_limit)  # refuses FIFOs unread
    with tempfile.TemporaryDirectory(prefix="cartoongan-read-") as scratch:
        local = os.path.join(scratch, "image" + os.path.splitext(posixpath.basename(path))[1])
        with FileSystems.open(path) as remote, open(local, "wb") as out:
            while chunk := remote.read(1 << 20):
                out.write(chunk)
        try:
            return read_image(local, max_size=max_size, pixel_limit=pixel_limit)
        except ImageReadError as error:
            raise ImageReadError(str(error).replace(local, path)) from error


class InferenceFailure(NamedTuple):
    """The inference of an image that the generator failed on (out of memory, ...)."""

    reason: str


class CartoonModel:
    """What `CartoonModelHandler.load_model` returns: cartoonizes lists of uint8 RGB images,
    same-sized ones in one call. The model itself is built on first use, so a worker that
    only skips finished files (a re-run) never loads TensorFlow."""

    def __init__(self, style, precision="auto", verbose=False, **cartoonizer_options):
        self.style, self.precision, self.verbose = style, precision, verbose
        self.cartoonizer_options = cartoonizer_options  # tile_size, memory_budget
        self._run = None

    def cartoonize_batch(self, images):
        if self._run is None:
            self._run = _load(self.style, self.precision, self.verbose, self.cartoonizer_options)
        by_shape = {}
        for index, image in enumerate(images):
            by_shape.setdefault(image.shape, []).append(index)
        results = [None] * len(images)
        for indices in by_shape.values():
            try:
                outputs = self._run([images[i] for i in indices])
            except Exception as error:  # noqa: BLE001  one image's failure must not fail the others
                if len(indices) > 1:  # alone, the others may well pass
                    outputs = [self._run_one(images[i]) for i in indices]
                else:
                    outputs = [InferenceFailure(_reason(error))]
            for i, output in zip(indices, outputs):
                results[i] = output
        return results

    def _run_one(self, image):
        try:
            return self._run([image])[0]
        except Exception as error:  # noqa: BLE001
            return InferenceFailure(_reason(error))


def _reason(error):
    message = getattr(error, "message", None) or str(error)
    return f"cartoonizing failed: {type(error).__name__}: {message.splitlines()[0] if message else ''}"


def _load(style, precision, verbose, cartoonizer_options):
    """-> a function [uint8 RGB HxWx3 of one size] -> [uint8 RGB HxWx3]."""
    from cartoongan.tf_runtime import import_tensorflow

    tf = import_tensorflow(verbose)
    local = _local_copy(style) if not is_local(style) else style
    if os.path.isfile(os.path.join(local, "saved_model.pb")):
        serve = tf.saved_model.load(local).signatures["serving_default"]

        def run_saved_model(images):
            return list(serve(images=tf.constant(np.stack(images)))["cartoons"].numpy())

        return run_saved_model
    from cartoongan.inference import Cartoonizer

    cartoonizer = Cartoonizer.from_pretrained(local, precision=precision, **cartoonizer_options)
    return cartoonizer.cartoonize_batch


def _local_copy(remote_dir):
    """Copies a preset or SavedModel folder from a Beam filesystem into a local temporary one."""
    local = tempfile.mkdtemp(prefix="cartoongan-model-")
    base = remote_dir.rstrip("/")
    for metadata in FileSystems.match([base + "/**"])[0].metadata_list:
        relative = metadata.path[len(base) + 1:]
        target = os.path.join(local, *relative.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with FileSystems.open(metadata.path) as source, open(target, "wb") as out:
            out.write(source.read())
    return local


class CartoonModelHandler(ModelHandler):
    """A RunInference ModelHandler: Photo examples in, uint8 RGB cartoons (or an
    `InferenceFailure`) out. Wrap it in `KeyedModelHandler` to key images by file.

    `style`: a style name, a preset folder or an exported SavedModel folder (local or on a
    Beam filesystem). `cartoonizer_options` go to `Cartoonizer.from_pretrained` (`tile_size`,
    `memory_budget`, the look; the SavedModel always runs whole images, as exported). `large_model=True` loads one copy per machine, shared by the worker
    processes (for a big model on a small machine or one accelerator); by default each worker
    process loads its own, which keeps the processes from waiting on each other."""

    def __init__(self, style, precision="auto", max_batch_size=DEFAULT_MAX_BATCH_SIZE, large_model=False,
                 verbose=False, **cartoonizer_options):
        # (ModelHandler's max_batch_weight would bound a batch's pixels, but apache-beam 2.77
        # passes it to a BatchElements that does not take it: a TypeError at construction.)
        super().__init__(min_batch_size=1, max_batch_size=max_batch_size, large_model=large_model)
        self._style, self._precision, self._verbose = style, precision, verbose
        self._cartoonizer_options = cartoonizer_options

    def load_model(self):
        return CartoonModel(self._style, self._precision, self._verbose, **self._cartoonizer_options)

    def run_inference(self, batch, model, inference_args=None):
        cartoons = model.cartoonize_batch([photo.rgb for photo in batch])
        return [PredictionResult(photo, cartoon) for photo, cartoon in zip(batch, cartoons)]

    def get_num_bytes(self, batch):
        return sum(photo.rgb.nbytes for photo in batch)  # the default pickles the whole batch

    def get_metrics_namespace(self):
        return "RunInference_cartoongan"


class WriteCartoons(beam.DoFn):
    """(Task, PredictionResult) -> nothing on success; failure records tagged `failed`.
    `style_dir` (DIR/<style folder>) gets the CLI's style folder marker after the first
    file a worker writes (`mark_written_style_folder`)."""

    def __init__(self, style_dir=None, settings=None):
        self._cartoonized = Metrics.counter(METRICS_NAMESPACE, "cartoonized")
        self._failed = Metrics.counter(METRICS_NAMESPACE, "failed")
        self._style_dir, self._settings = style_dir, settings
        self._cleaned, self._marked = set(), False

    def setup(self):
        self._cleaned, self._marked = set(), False

    def process(self, element):
        task, result = element
        if isinstance(result.inference, InferenceFailure):
            self._failed.inc()
            yield beam.pvalue.TaggedOutput("failed", _record(task.source, result.inference.reason))
            return
        try:
            write_cartoon(task.destination, np.asarray(result.inference), result.example.alpha, self._cleaned)
            if self._style_dir and not self._marked:
                mark_written_style_folder(self._style_dir)
                self._marked = True
            if self._style_dir and self._settings is not None and is_local(self._style_dir):
                add_record(self._style_dir, task.destination, self._settings)
        except (OSError, ValueError) as error:
            self._failed.inc()
            yield beam.pvalue.TaggedOutput("failed", _record(task.source, str(error)))
            return
        self._cartoonized.inc()


def write_cartoon(destination, rgb, alpha, cleaned=None):
    """`cartoongan.images.write_image` on any Beam filesystem (atomic on each: a temporary
    name, renamed once complete). `cleaned`: local folders already rid of a killed run's
    temporaries."""
    from cartoongan.atomic import remove_stale_partials
    from cartoongan.images import write_image

    if is_local(destination):
        directory = os.path.dirname(os.path.abspath(destination))
        if cleaned is None or directory not in cleaned:
            remove_stale_partials(directory)
            if cleaned is not None:
                cleaned.add(directory)
        write_image(destination, rgb, alpha)
        return
    with tempfile.TemporaryDirectory(prefix="cartoongan-") as scratch:
        local = os.path.join(scratch, posixpath.basename(destination))
        write_image(local, rgb, alpha)  # the CLI's encoder, byte for byte
        directory, name = posixpath.split(destination)
        partial = posixpath.join(directory, f".{name}.partial-{os.getpid()}-{os.urandom(4).hex()}")
        with open(local, "rb") as data, FileSystems.create(partial) as out:
            out.write(data.read())
        FileSystems.rename([partial], [destination])


def mark_written_style_folder(style_dir):
    """`cartoongan.jobs.mark_style_folder` on any Beam filesystem (an object store's write of
    one small object is atomic)."""
    if is_local(style_dir):
        mark_style_folder(style_dir)
        return
    marker = FileSystems.join(style_dir, STYLE_FOLDER_MARKER)
    if not FileSystems.exists(marker):
        with FileSystems.create(marker) as out:
            out.write(STYLE_FOLDER_MARKER_TEXT.encode())


def is_marked_folder(folder):
    """Whether `folder` (on any Beam filesystem) holds the style folder marker, or (local)
    lies in a folder that does: results of an earlier run."""
    if is_local(folder):
        return in_marked_folder(folder, {})
    return FileSystems.exists(FileSystems.join(folder.rstrip("/"), STYLE_FOLDER_MARKER))


def written_style_folders(output_dir):
    """The folders below `output_dir` that hold the style folder marker: what this tool
    wrote there in any run (`cartoongan.jobs.marked_style_folders`, on any Beam filesystem)."""
    from cartoongan.jobs import marked_style_folders

    if is_local(output_dir):
        return marked_style_folders(output_dir)
    pattern = FileSystems.join(output_dir, "*", STYLE_FOLDER_MARKER)
    return sorted(_dirname(metadata.path) for metadata in FileSystems.match([pattern])[0].metadata_list)


class WriteFailures(beam.PTransform):
    """Failure records -> one JSON line each in DIR/_failed/failed.jsonl (replaced by each
    run: it lists the files that failed this time; finished files are not read again)."""

    def __init__(self, output_dir):
        super().__init__()
        self._output_dir = output_dir

    def expand(self, records):
        return (
            records
            | "Json" >> beam.Map(lambda record: json.dumps(record, sort_keys=True))
            | "Write" >> beam.io.WriteToText(failed_path(self._output_dir), num_shards=1, shard_name_template="")
        )


def build_pipeline(pipeline, job, folder, written=()):
    """Adds the whole job to `pipeline`; `folder`: the style's output folder; `written`: the
    style folders of earlier runs, never inputs (see `written_style_folders`)."""
    listed = pipeline | "List" >> ListPhotos(job, folder, written)
    read = (listed.pending
            | "Read" >> beam.ParDo(ReadPhotos(job.max_size, job.max_file_mb, job.pixel_limit)).with_outputs(
                "failed", main="photos"))
    options = {"tile_size": job.tile_size, "style_size": job.style_size, "strength": job.strength,
               "keep_colors": job.keep_colors}
    if job.portrait:
        options.update(portrait=True, face_style=job.face_style)
    if job.memory_budget is not None:
        options["memory_budget"] = job.memory_budget
    handler = KeyedModelHandler(CartoonModelHandler(job.style, job.precision, job.max_batch_size, job.large_model,
                                                    job.verbose, **options))
    written = (
        read.photos
        | "Cartoonize" >> RunInference(handler)
        | "Write" >> beam.ParDo(WriteCartoons(_join(job.output, folder), job_settings(job))).with_outputs(
            "failed", main="done")
    )
    failures = (listed.failed, read.failed, written.failed) | "Failures" >> beam.Flatten()
    failures | "DeadLetter" >> WriteFailures(job.output)
    return failures


def is_saved_model(path):
    """Whether `path` (on any Beam filesystem) is a SavedModel folder, not a preset."""
    if is_local(path):
        return os.path.isfile(os.path.join(path, "saved_model.pb"))
    return FileSystems.exists(FileSystems.join(path, "saved_model.pb"))


def resolve_style_folder(job):
    """The output folder of the job's style: `cartoongan.jobs.style_name` for names and
    presets; an exported SavedModel (`exported/hayao/saved_model`) writes to its parent's name."""
    from cartoongan.jobs import style_name
    from cartoongan.presets import check_preset_name_value

    if job.style_folder:
        return job.style_folder
    if is_saved_model(job.style):  # exported/hayao/saved_model -> hayao
        parent = (_dirname(os.path.abspath(job.style)) if is_local(job.style) else _dirname(job.style.rstrip("/")))
        return check_preset_name_value(os.path.basename(parent.rstrip("/")), where=f"{job.style}: folder name")
    if is_local(job.style):
        return style_name(job.style)
    with FileSystems.open(FileSystems.join(job.style, "config.json")) as config:
        name = json.loads(config.read()).get("name") or posixpath.basename(job.style.rstrip("/"))
    return check_preset_name_value(name, where=f"{job.style}/config.json: name")


def check_job(job):
    """Everything that can be wrong with `job`, found before any work; -> the job with its
    output folder resolved (`style_folder`, see `resolve_style_folder`) and an upstream style
    fetched into the local cache (once, here, not on every worker).

    Raises ParameterError naming the field at fault (`input`, `output`, `max_size`, ...),
    ValueError for an unknown style, PresetError for a malformed preset, DownloadError or
    OSError (Beam's BeamIOError) when the style or a remote path cannot be reached."""
    from cartoongan.errors import ParameterError
    from cartoongan.options import DEFAULT_FACE_STYLE, LookOptions, PortraitOptions
    from cartoongan.presets import check_preset_name, resolve_preset

    look = LookOptions(job.style_size, job.strength, job.keep_colors)
    portrait = PortraitOptions(job.portrait, job.face_style)
    if portrait.portrait and is_saved_model(job.style):
        raise ParameterError("portrait", "{name} applies to styles and presets; the SavedModel {style} runs as it was "
                             "exported", style=job.style)
    if look != LookOptions() and is_saved_model(job.style):
        changed = next(field for field, value in look.to_dict().items() if value != getattr(LookOptions(), field))
        raise ParameterError(changed, "{name} applies to styles and presets; the SavedModel {style} runs as it was "
                             "exported", style=job.style)
    for field, least in (("max_size", 0), ("max_batch_size", 1), ("max_file_mb", 0)):
        if getattr(job, field) < least:
            raise ParameterError(field, "{name} must be >= {least}", least=least)
    if job.pixel_limit is not None and job.pixel_limit <= 0:
        raise ParameterError("pixel_limit", "{name} must be > 0")
    if is_local(job.output) and os.path.exists(job.output) and not os.path.isdir(job.output):
        raise ParameterError("output", "{name} {output} exists and is not a folder", output=job.output)
    if not matches_anything(job.input):
        raise ParameterError("input", "{name} {input}: no such file or folder, and no glob match", input=job.input)
    _, base, from_folder = input_plan(job.input)
    if from_folder and is_marked_folder(base):
        raise ParameterError("input", "{name} {input}: a folder of results this tool wrote (it holds {marker}); what "
                             "is in it is never read as input again (name its files to cartoonize them)",
                             input=job.input, marker=STYLE_FOLDER_MARKER)
    if is_local(job.style) and not is_saved_model(job.style):
        check_preset_name(job.style)
        resolve_preset(job.style)
    if portrait.portrait:  # the face style is fetched here too, once
        check_preset_name(portrait.face_style or DEFAULT_FACE_STYLE)
        resolve_preset(portrait.face_style or DEFAULT_FACE_STYLE)
    job = dataclasses.replace(job, style_folder=resolve_style_folder(job))
    check_destinations(job.output, (job.style_folder, FAILED_FOLDER))
    return job


def check_destinations(output_dir, folders):
    """Raises ParameterError (`output`) when a file could be written outside a local
    `output_dir` through a link: every destination of a run is `output_dir/<folder>/<path>`,
    so its real path leaves `output_dir` only through a link that exists below one of the
    `folders` (or is one). Every link there is resolved, as the CLI resolves every
    destination. Object stores have no links: nothing to check there."""
    from cartoongan.errors import ParameterError

    if not is_local(output_dir):
        return
    root = os.path.realpath(output_dir)
    seen = set()
    pending = [os.path.join(output_dir, folder) for folder in folders]
    while pending:
        path = pending.pop()
        real = os.path.realpath(path)
        if os.path.islink(path) and not (real == root or real.startswith(root.rstrip(os.sep) + os.sep)):
            raise ParameterError("output", "{path} is a link to {real}: results would be written outside {name} "
                                 "{output}", path=path, real=real, output=output_dir)
        if real in seen or not os.path.isdir(path):
            continue
        seen.add(real)  # a link to a folder already walked (a loop) is not walked again
        with os.scandir(path) as entries:
            pending += [entry.path for entry in entries if entry.is_symlink() or entry.is_dir(follow_symlinks=False)]


def run(job, pipeline_args=()):
    """Runs the job to the end; -> Summary (counts from the job's metrics).

    The run's temporary files (Beam's job server and stager make `beam-temp*`, `tmp*` and
    `beam-requirements-cache` folders, and leave them) go to one folder of the run, removed
    after it: see `run_temporary_folder`."""
    from apache_beam.options.pipeline_options import PipelineOptions

    folder = resolve_style_folder(job)
    check_destinations(job.output, (folder, FAILED_FOLDER))  # as check_job does: `run` may be called alone
    written = written_style_folders(job.output)
    with run_temporary_folder():
        options = PipelineOptions(list(pipeline_args))
        pipeline = beam.Pipeline(options=options)
        build_pipeline(pipeline, job, folder, written)
        result = pipeline.run()
        result.wait_until_finish()
    counts = metric_counts(result)
    return Summary(counts.get("cartoonized", 0), counts.get("skipped", 0), counts.get("failed", 0),
                   failed_path(job.output))


@contextlib.contextmanager
def run_temporary_folder():
    """Points TMPDIR (for worker processes) and `tempfile`'s default (for this one) at a new
    folder inside the system's temporary folder, and removes that folder, with whatever
    was left in it, on the way out. Yields its path."""
    folder = tempfile.mkdtemp(prefix="cartoongan-beam-")
    saved_environment, saved_default = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = folder, folder
    try:
        yield folder
    finally:
        tempfile.tempdir = saved_default
        if saved_environment is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_environment
        shutil.rmtree(folder, ignore_errors=True)


def metric_counts(result):
    """{counter name: value} of the cartoongan namespace (committed where the runner has them)."""
    counts = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        counts[counter.key.metric.name] = counts.get(counter.key.metric.name, 0) + (value or 0)
    return counts

