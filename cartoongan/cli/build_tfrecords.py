"""build_tfrecords: photo and anime images -> the sharded TFRecords that training reads.

    python tools/build_tfrecords.py --photos train2017/ --anime anime/ --output data/photo2anime
"""

import argparse
import dataclasses
import os
import sys

from tqdm import tqdm

from cartoongan.cli.flags import usage_error
from cartoongan.data import build
from cartoongan.tf_runtime import import_tensorflow


def build_parser():
    parser = argparse.ArgumentParser(
        prog="cartoongan-build-tfrecords",
        description="Build the sharded TFRecords of photos and edge-smoothed anime images for training.",
        epilog="Examples: %(prog)s --photos coco/train2017 --anime anime/ --output data/photo2anime\n"
               "          %(prog)s --photos tfds:coco/2017 --tfds-data-dir ~/tensorflow_datasets "
               "--anime anime/ --output data/photo2anime",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--photos", required=True, metavar="SRC",
                        help="a folder of photos (searched recursively, e.g. COCO's train2017/) or tfds:NAME, "
                             "a tensorflow-datasets dataset already prepared in --tfds-data-dir (e.g. tfds:coco/2017)")
    parser.add_argument("--anime", required=True, metavar="DIR", help="a folder of anime images (searched recursively)")
    parser.add_argument("--output", required=True, metavar="DIR",
                        help="where photo-*.tfrecord, anime-*.tfrecord and dataset.json go")
    parser.add_argument("--image-size", type=int, default=build.DEFAULT_IMAGE_SIZE, metavar="N",
                        help="shrink images so that the short side is at most N, keeping the aspect ratio; never "
                             "enlarge (default: %(default)s: room for random 256 px training crops, and a COCO "
                             "photo is decoded at a third of its size at every epoch)")
    parser.add_argument("--num-shards", type=int, default=build.DEFAULT_NUM_SHARDS, metavar="N",
                        help="files per family (default: %(default)s; at most one per image)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="processes that read, resize, smooth and encode (default: all cores, %(default)s)")
    parser.add_argument("--photo-format", choices=build.PHOTO_FORMATS, default="jpg",
                        help="encoding of the photos (default: jpg, quality 95; anime images and their smoothed "
                             "copies are always PNG, so that the smoothing is not lost in JPEG artefacts)")
    parser.add_argument("--tfds-data-dir", metavar="DIR", help="data_dir of the tensorflow-datasets dataset of --photos")
    parser.add_argument("--tfds-split", default="train", help="split of the tfds dataset (default: %(default)s)")
    parser.add_argument("--tfds-image-key", default="image", help="image feature of the tfds dataset (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace a dataset already in --output")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    import_tensorflow(args.verbose)  # first: checking the output folder reads tfrecords' names
    options = build.BuildOptions(**{f.name: getattr(args, f.name) for f in dataclasses.fields(build.BuildOptions)})
    try:
        plan = build.plan_build(options)
    except ValueError as error:  # ParameterError: named by its flag
        usage_error(parser, error)
    with tqdm(total=plan.photo_count + len(plan.anime_paths), unit="img", desc="build_tfrecords") as bar:
        def progress(family):
            bar.set_postfix_str(family, refresh=False)
            bar.update()

        result = build.build_dataset(options, plan, progress, log=lambda line: tqdm.write(line, file=sys.stderr))
    print(f"wrote {result.counts['photo']} photos and {result.counts['anime']} anime images to {args.output}, "
          f"failed {len(result.skipped)}", file=sys.stderr)
    if result.skipped:
        print("failed: " + ", ".join(result.skipped), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
