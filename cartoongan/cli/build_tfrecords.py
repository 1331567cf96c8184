"""build_tfrecords: photo and anime images -> the sharded TFRecords that training reads.

    python tools/build_tfrecords.py --photos train2017/ --anime anime/ --output data/photo2anime
"""

import argparse
import collections
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
from concurrent.futures import ProcessPoolExecutor

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
# A build stages its shards in DIR/.partial-build-XXXX (locked while the build lives) and
# moves them into DIR once all are complete; a killed build leaves the folder behind.
STAGING_PREFIX = ".partial-build-"
# What a build killed while writing dataset.json left when it wrote it with cartoongan.atomic
# (beside the shards, before it was staged).
LEGACY_PARTIAL_INFO = ".dataset.json.partial-"


def build_parser():
    parser = argparse.ArgumentParser(
        prog="build_tfrecords",
        description="Build the sharded TFRecords of photos and edge-smoothed anime images for training.",
        epilog="Examples: build_tfrecords --photos coco/train2017 --anime anime/ --output data/photo2anime\n"
               "          build_tfrecords --photos tfds:coco/2017 --tfds-data-dir ~/tensorflow_datasets "
               "--anime anime/ --output data/photo2anime",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--photos", required=True, metavar="SRC",
                        help="a folder of photos (searched recursively, e.g. COCO's train2017/) or tfds:NAME, "
                             "a tensorflow-datasets dataset already prepared in --tfds-data-dir (e.g. tfds:coco/2017)")
    parser.add_argument("--anime", required=True, metavar="DIR", help="a folder of anime images (searched recursively)")
    parser.add_argument("--output", required=True, metavar="DIR",
                        help="where photo-*.tfrecord, anime-*.tfrecord and dataset.json go")
    parser.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE, metavar="N",
                        help="shrink images so that the short side is at most N, keeping the aspect ratio; never "
                             "enlarge (default: %(default)s: room for random 256 px training crops, and a COCO "
                             "photo is decoded at a third of its size at every epoch)")
    parser.add_argument("--num-shards", type=int, default=DEFAULT_NUM_SHARDS, metavar="N",
                        help="files per family (default: %(default)s; at most one per image)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="processes that read, resize, smooth and encode (default: all cores, %(default)s)")
    parser.add_argument("--photo-format", choices=PHOTO_FORMATS, default="jpg",
                        help="encoding of the photos (default: jpg, quality 95; anime images and their smoothed "
                             "copies are always PNG, so that the smoothing is not lost in JPEG artefacts)")
    parser.add_argument("--tfds-data-dir", metavar="DIR", help="data_dir of the tensorflow-datasets dataset of --photos")
    parser.add_argument("--tfds-split", default="train", help="split of the tfds dataset (default: %(default)s)")
    parser.add_argument("--tfds-image-key", default="image", help="image feature of the tfds dataset (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace a dataset already in --output")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


Plan = collections.namedtuple("Plan", "photo_paths anime_paths tfds_builder photo_count")


def check_plan(args):
    """Everything that can be wrong with the flags, found before any work: -> Plan."""
    for flag, value in (("--image-size", args.image_size), ("--num-shards", args.num_shards),
                        ("--workers", args.workers)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")

    from cartoongan.data.sources import TFDS_PREFIX, open_tfds
    from cartoongan.images import list_images
    from cartoongan.data.tfrecords import FAMILIES, family_files

    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise ValueError(f"--output {args.output} exists and is not a folder")
    existing = [p for family in FAMILIES for p in family_files(args.output, family)]
    if os.path.exists(os.path.join(args.output, "dataset.json")):
        existing.append(os.path.join(args.output, "dataset.json"))
    if existing and not args.overwrite:
        raise ValueError(f"--output {args.output} already holds a dataset ({os.path.basename(existing[0])}, ...): "
                         "use --overwrite to replace it")
    photo_paths, builder, photo_count = None, None, 0
    if args.photos.startswith(TFDS_PREFIX):
        if not args.tfds_data_dir or not os.path.isdir(args.tfds_data_dir):
            raise ValueError(f"--photos {args.photos} needs --tfds-data-dir, the folder the dataset was prepared in")
        builder, photo_count = open_tfds(args.photos[len(TFDS_PREFIX):], args.tfds_data_dir, args.tfds_split,
                                         args.tfds_image_key)
    elif not os.path.isdir(args.photos):
        raise ValueError(f"--photos {args.photos}: no such folder (and not tfds:NAME)")
    else:
        photo_paths = list_images(args.photos)
        photo_count = len(photo_paths)
    if not os.path.isdir(args.anime):
        raise ValueError(f"--anime {args.anime}: no such folder")
    anime_paths = list_images(args.anime)
    if not photo_count:
        raise ValueError(f"--photos {args.photos}: no images found")
    if not anime_paths:
        raise ValueError(f"--anime {args.anime}: no images found")
    return Plan(photo_paths, anime_paths, builder, photo_count)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        plan = check_plan(args)
    except ValueError as error:
        parser.error(str(error))
    from cartoongan.cli.quiet import import_tensorflow

    import_tensorflow(args.verbose)
    return run(args, plan)


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


def _lock(directory):
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
        fd = _lock(path)
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
    fd = _lock(path)
    if fd is None:  # another build found it unlocked, empty, and is removing it
        return _staging_folder(output)
    return path, fd


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


def run(args, plan):
    from tqdm import tqdm

    from cartoongan.data.sources import tfds_images
    from cartoongan.data.tfrecords import FAMILIES, anime_example, family_files, photo_example, write_shards

    os.makedirs(args.output, exist_ok=True)
    for path in remove_abandoned_builds(args.output):
        print(f"removed {path}, left by a build that was stopped", file=sys.stderr)
    if plan.tfds_builder is not None:
        photo_sources = tfds_images(plan.tfds_builder, args.tfds_split, args.tfds_image_key)
    else:
        photo_sources = ((path, path) for path in plan.photo_paths)
    photo_tasks = ((name, source, args.image_size, args.photo_format) for name, source in photo_sources)
    anime_tasks = ((path, path, args.image_size) for path in plan.anime_paths)
    failed = []
    staging, staging_lock = _staging_folder(args.output)
    executor = None
    try:
        if args.workers > 1:
            executor = ProcessPoolExecutor(args.workers, mp_context=_worker_context(), initializer=_init_worker)
        with tqdm(total=plan.photo_count + len(plan.anime_paths), unit="img", desc="build_tfrecords") as bar:

            def examples(results, make_example):
                for name, prepared, error in results:
                    bar.update()
                    if error is None:
                        yield make_example(*prepared)
                    else:
                        tqdm.write(f"error: {error}", file=sys.stderr)
                        failed.append(name)

            window = 4 * args.workers
            counts, files = {}, {}
            for family, function, tasks, total, make_example in (
                    ("photo", _photo_task, photo_tasks, plan.photo_count, photo_example),
                    ("anime", _anime_task, anime_tasks, len(plan.anime_paths), anime_example)):
                bar.set_postfix_str(family)
                num_shards = max(1, min(args.num_shards, total))
                paths, counts[family] = write_shards(
                    examples(_ordered_map(function, tasks, executor, window), make_example),
                    os.path.join(staging, family), num_shards)
                files[family] = [os.path.basename(p) for p in paths]
        # All shards complete: replace the old dataset (if any) file by file. Its
        # dataset.json goes first, so that a build killed halfway leaves no folder that
        # claims to be complete; the new one is written last.
        old_info = os.path.join(args.output, "dataset.json")
        if os.path.exists(old_info):
            os.remove(old_info)
        for family in FAMILIES:
            for path in family_files(args.output, family):
                if os.path.basename(path) not in files[family]:
                    os.remove(path)
            for name in files[family]:
                os.replace(os.path.join(staging, name), os.path.join(args.output, name))
        _write_json(os.path.join(staging, "dataset.json"), {
            "photo": {"examples": counts["photo"], "files": files["photo"]},
            "anime": {"examples": counts["anime"], "files": files["anime"], "smooth": "edge_smooth (Canny 100/200, "
                      "5x5 dilation, 5x5 Gaussian on the edges)"},
            "skipped": sorted(failed),
            "options": {"photos": args.photos, "anime": args.anime, "image_size": args.image_size,
                        "num_shards": args.num_shards, "photo_format": args.photo_format,
                        "tfds_data_dir": args.tfds_data_dir, "tfds_split": args.tfds_split,
                        "tfds_image_key": args.tfds_image_key},
        })
        os.replace(os.path.join(staging, "dataset.json"), old_info)
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
        shutil.rmtree(staging, ignore_errors=True)
        if staging_lock != -1:
            os.close(staging_lock)
    print(f"wrote {counts['photo']} photos and {counts['anime']} anime images to {args.output}, "
          f"failed {len(failed)}", file=sys.stderr)
    if failed:
        print("failed: " + ", ".join(sorted(failed)), file=sys.stderr)
        return 1
    return 0


def _write_json(path, value):
    with open(path, "w") as f:  # in the staging folder, moved into place whole
        json.dump(value, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
