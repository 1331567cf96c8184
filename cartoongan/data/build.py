"""The TFRecord build engine: photo and anime images -> the sharded TFRecords that training reads.

    options = BuildOptions(photos="coco/train2017", anime="anime/", output="data/photo2anime")
    result = build_dataset(options, plan_build(options))

Worker processes read, resize, smooth and encode the images (no TensorFlow there; a file
that cannot be read comes back as a message and is skipped); the main process writes the
shards into a staging folder inside `output` and, once every shard is complete, swaps them
in and writes `dataset.json` last, so that a build killed at any point leaves either the old
dataset or the new one, never a folder that claims to be complete. Leftovers of killed
builds are removed by the next build.
"""

import collections
import dataclasses
import json
import multiprocessing
import os
import shutil
import tempfile
import threading
from concurrent.futures import ProcessPoolExecutor

from cartoongan.errors import ParameterError
from cartoongan.options import option, required

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so no cleanup of other builds' leftovers
    fcntl = None

# Training takes 256 px crops (the CartoonGAN recipe); a short side of 384 leaves room for
# crops that differ, and shrinking a 640x480 COCO photo to 512x384 once here saves decoding
# and resizing it again at every epoch. Smaller images are stored as they are: the training
# pipeline enlarges them, which is better done once on the fly than baked in here.
DEFAULT_IMAGE_SIZE = 384
DEFAULT_NUM_SHARDS = 16
PHOTO_FORMATS = ("jpg", "png")
INFO_FILE = "dataset.json"
# A build stages its shards in DIR/.partial-build-XXXX (locked while the build lives) and
# moves them into DIR once all are complete; a killed build leaves the folder behind.
STAGING_PREFIX = ".partial-build-"
# What a build killed while writing dataset.json left when it wrote it with cartoongan.atomic
# (beside the shards, before it was staged).
LEGACY_PARTIAL_INFO = ".dataset.json.partial-"


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """What to build; the fields with a help text are also the options of
    `cartoongan-build-tfrecords` (--field-name), whose --help shows that text and the default."""

    photos: str = required("a folder of photos (searched recursively, e.g. COCO's train2017/) or tfds:NAME, a "
                           "tensorflow-datasets dataset already prepared in the tfds data dir (e.g. tfds:coco/2017)",
                           metavar="SRC")
    anime: str = required("a folder of anime images (searched recursively)", metavar="DIR")
    output: str = required("where photo-*.tfrecord, anime-*.tfrecord and dataset.json go", metavar="DIR")
    image_size: int = option(DEFAULT_IMAGE_SIZE, "shrink images so that the short side is at most N, keeping the "
                             "aspect ratio; never enlarge (the default leaves room for random 256 px training crops, "
                             "and a COCO photo is then decoded at a third of its size at every epoch)", metavar="N")
    num_shards: int = option(DEFAULT_NUM_SHARDS, "files per family (at most one per image)", metavar="N")
    workers: int = option(1, "processes that read, resize, smooth and encode (1: all in this process)", metavar="N")
    photo_format: str = option("jpg", "encoding of the photos (jpg: quality 95; anime images and their smoothed "
                               "copies are always PNG, so that the smoothing is not lost in JPEG artefacts)",
                               choices=PHOTO_FORMATS)
    tfds_data_dir: str | None = option(None, "data_dir of the tensorflow-datasets dataset of the photos", metavar="DIR",
                                       shown_default="none")
    tfds_split: str = option("train", "split of the tfds dataset")
    tfds_image_key: str = option("image", "image feature of the tfds dataset")
    overwrite: bool = option(False, "replace a dataset already in the output folder")


Plan = collections.namedtuple("Plan", "photo_paths anime_paths tfds_builder photo_count")
BuildResult = collections.namedtuple("BuildResult", "counts files skipped")


def plan_build(options):
    """Everything that can be wrong with the options, found before any work: -> Plan, or
    ParameterError naming the `BuildOptions` field (ValueError from tensorflow-datasets'
    side for a tfds source)."""
    for field in ("image_size", "num_shards", "workers"):
        if getattr(options, field) < 1:
            raise ParameterError(field, "{name} must be >= 1, got {value}", value=getattr(options, field))
    if options.photo_format not in PHOTO_FORMATS:
        raise ParameterError("photo_format", "{name} must be one of {allowed}, got {value!r}",
                             allowed=", ".join(PHOTO_FORMATS), value=options.photo_format)

    from cartoongan.data.sources import TFDS_PREFIX, open_tfds
    from cartoongan.data.tfrecords import FAMILIES, family_files
    from cartoongan.images import list_images

    output = options.output
    if os.path.exists(output) and not os.path.isdir(output):
        raise ParameterError("output", "{name} {output} exists and is not a folder", output=output)
    existing = [p for family in FAMILIES for p in family_files(output, family)]
    if os.path.exists(os.path.join(output, INFO_FILE)):
        existing.append(os.path.join(output, INFO_FILE))
    if existing and not options.overwrite:
        raise ParameterError("output", "{name} {output} already holds a dataset ({file}, ...): set {names[overwrite]} "
                                       "to replace it", output=output, file=os.path.basename(existing[0]))
    photo_paths, builder, photo_count = None, None, 0
    if options.photos.startswith(TFDS_PREFIX):
        if not options.tfds_data_dir or not os.path.isdir(options.tfds_data_dir):
            raise ParameterError("tfds_data_dir", "{names[photos]} {photos} needs {name}, the folder the dataset was "
                                                  "prepared in", photos=options.photos)
        builder, photo_count = open_tfds(options.photos[len(TFDS_PREFIX):], options.tfds_data_dir,
                                         options.tfds_split, options.tfds_image_key)
    elif not os.path.isdir(options.photos):
        raise ParameterError("photos", "{name} {photos}: no such folder (and not tfds:NAME)", photos=options.photos)
    else:
        photo_paths = list_images(options.photos)
        photo_count = len(photo_paths)
    if not os.path.isdir(options.anime):
        raise ParameterError("anime", "{name} {anime}: no such folder", anime=options.anime)
    anime_paths = list_images(options.anime)
    if not photo_count:
        raise ParameterError("photos", "{name} {photos}: no images found", photos=options.photos)
    if not anime_paths:
        raise ParameterError("anime", "{name} {anime}: no images found", anime=options.anime)
    return Plan(photo_paths, anime_paths, builder, photo_count)


def build_dataset(options, plan=None, progress=None, log=None):
    """Writes the dataset that `options` describe; -> BuildResult (examples and files per
    family, the names of the images that could not be read, sorted).

    progress(family): called once per image done, read or not; log(line): what a user
    should see (a leftover removed, an image that cannot be read)."""
    from cartoongan.data.sources import tfds_images
    from cartoongan.data.tfrecords import FAMILIES, anime_example, family_files, photo_example, write_shards

    plan = plan_build(options) if plan is None else plan
    progress = progress or (lambda family: None)
    log = log or (lambda line: None)
    os.makedirs(options.output, exist_ok=True)
    for path in remove_abandoned_builds(options.output):
        log(f"removed {path}, left by a build that was stopped")
    if plan.tfds_builder is not None:
        photo_sources = tfds_images(plan.tfds_builder, options.tfds_split, options.tfds_image_key)
    else:
        photo_sources = ((path, path) for path in plan.photo_paths)
    photo_tasks = ((name, source, options.image_size, options.photo_format) for name, source in photo_sources)
    anime_tasks = ((path, path, options.image_size) for path in plan.anime_paths)
    failed = []

    def examples(family, results, make_example):
        for name, prepared, error in results:
            progress(family)
            if error is None:
                yield make_example(*prepared)
            else:
                log(f"error: {error}")
                failed.append(name)

    staging, staging_lock = _staging_folder(options.output)
    executor = None
    try:
        if options.workers > 1:
            executor = ProcessPoolExecutor(options.workers, mp_context=_worker_context(), initializer=_init_worker)
        window = 4 * options.workers
        counts, files = {}, {}
        for family, function, tasks, total, make_example in (
                ("photo", _photo_task, photo_tasks, plan.photo_count, photo_example),
                ("anime", _anime_task, anime_tasks, len(plan.anime_paths), anime_example)):
            num_shards = max(1, min(options.num_shards, total))
            paths, counts[family] = write_shards(
                examples(family, _ordered_map(function, tasks, executor, window), make_example),
                os.path.join(staging, family), num_shards)
            files[family] = [os.path.basename(p) for p in paths]
        # All shards complete: replace the old dataset (if any) file by file. Its
        # dataset.json goes first, so that a build killed halfway leaves no folder that
        # claims to be complete; the new one is written last.
        old_info = os.path.join(options.output, INFO_FILE)
        if os.path.exists(old_info):
            os.remove(old_info)
        for family in FAMILIES:
            for path in family_files(options.output, family):
                if os.path.basename(path) not in files[family]:
                    os.remove(path)
            for name in files[family]:
                os.replace(os.path.join(staging, name), os.path.join(options.output, name))
        _write_json(os.path.join(staging, INFO_FILE), _dataset_info(options, counts, files, failed))
        os.replace(os.path.join(staging, INFO_FILE), old_info)
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
        shutil.rmtree(staging, ignore_errors=True)
        if staging_lock != -1:
            os.close(staging_lock)
    return BuildResult(counts, files, sorted(failed))


def _dataset_info(options, counts, files, failed):
    return {
        "photo": {"examples": counts["photo"], "files": files["photo"]},
        "anime": {"examples": counts["anime"], "files": files["anime"],
                  "smooth": "edge_smooth (Canny 100/200, 5x5 dilation, 5x5 Gaussian on the edges)"},
        "skipped": sorted(failed),
        "options": {key: getattr(options, key) for key in (
            "photos", "anime", "image_size", "num_shards", "photo_format", "tfds_data_dir", "tfds_split",
            "tfds_image_key")},
    }


def _write_json(path, value):
    with open(path, "w") as f:  # in the staging folder, moved into place whole
        json.dump(value, f, indent=2)
        f.write("\n")


# === Worker side: no TensorFlow, errors come back as messages ===

def _photo_task(task):
    from cartoongan.data.sources import prepare_photo
    from cartoongan.images import ImageReadError

    name, source, image_size, image_format = task
    try:
        return name, prepare_photo(name, source, image_size, image_format), None
    except (ImageReadError, OSError) as error:
        return name, None, str(error)


def _anime_task(task):
    from cartoongan.data.sources import prepare_anime
    from cartoongan.images import ImageReadError

    name, source, image_size = task
    try:
        return name, prepare_anime(name, source, image_size), None
    except (ImageReadError, OSError) as error:
        return name, None, str(error)


def _init_worker():
    _end_with_build()
    import cv2

    cv2.setNumThreads(1)  # the processes are the parallelism


def _end_with_build():
    """Makes this worker end when the build that started it dies, even by SIGKILL: nothing
    then shuts the pool down, and an idle worker would wait on its task queue forever.

    A watchdog thread waits on multiprocessing's parent sentinel, a pipe end that the build
    holds and that becomes readable when the build's process ends (a zombie included),
    under forkserver and spawn alike, on every platform; no polling."""
    import multiprocessing.connection

    build = multiprocessing.parent_process()
    if build is None:  # not a multiprocessing child
        return

    def watch():
        multiprocessing.connection.wait([build.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="end-with-build", daemon=True).start()


def _worker_context():
    """forkserver, preloaded: the workers are forked from a clean process that has imported
    their modules (PIL, OpenCV; not TensorFlow) once, so they start fast. Forking this
    process instead can deadlock the children on thread pools (OpenCV's, TensorFlow's) that
    were running here."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["cartoongan.data.sources"])
    return context


def _ordered_map(function, tasks, executor, window):
    """function over tasks, results in order, at most `window` in flight (tasks are read
    lazily: a tfds source is not pulled into memory ahead of the workers)."""
    if executor is None:
        yield from map(function, tasks)
        return
    pending = collections.deque()
    for task in tasks:
        pending.append(executor.submit(function, task))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


# === Staging folders: locked while their build lives, removed by the next build after ===

def lock_directory(directory):
    """An exclusive lock on `directory` held until the returned descriptor is closed (or
    the process dies); None when another process holds it. Without fcntl: -1 (no lock)."""
    if fcntl is None:
        return -1
    try:
        fd = os.open(directory, os.O_RDONLY)
    except FileNotFoundError:  # removed meanwhile by another build
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def remove_abandoned_builds(output):
    """Removes the staging folders that killed builds left in `output` (those no live build
    holds locked), and the `.dataset.json.partial-*` files of builds before dataset.json was
    staged too (no build writes one now); returns their paths."""
    removed = []
    if not os.path.isdir(output):
        return removed
    for name in sorted(os.listdir(output)):
        path = os.path.join(output, name)
        if name.startswith(LEGACY_PARTIAL_INFO) and os.path.isfile(path) and not os.path.islink(path):
            os.remove(path)
            removed.append(path)
            continue
        if fcntl is None or not name.startswith(STAGING_PREFIX) or not os.path.isdir(path) or os.path.islink(path):
            continue
        fd = lock_directory(path)
        if fd is None:  # a build running now
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)
        removed.append(path)
    return removed


def _staging_folder(output):
    """-> (path, lock descriptor) of a new staging folder in `output`, locked."""
    path = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=output)
    fd = lock_directory(path)
    if fd is None:  # another build found it unlocked, empty, and is removing it
        return _staging_folder(output)
    return path, fd
