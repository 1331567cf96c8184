"""build_tfrecords: photo and anime images -> the sharded TFRecords that training reads.

    python tools/build_tfrecords.py --photos train2017/ --anime anime/ --output data/photo2anime
"""

import argparse
import os
import sys

from tqdm import tqdm

from cartoongan.cli.flags import add_config_flags, usage_error
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
    cores = os.cpu_count() or 1
    add_config_flags(parser, build.BuildOptions, defaults={"workers": (cores, f"all cores, {cores}")})
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    import_tensorflow(args.verbose)  # first: checking the output folder reads tfrecords' names
    options = build.BuildOptions(**{key: value for key, value in vars(args).items()
                                    if value is not None and key != "verbose"})
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
