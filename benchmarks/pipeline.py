"""Input pipeline speed: images/s out of `training_dataset`, against what a train step eats.

    python benchmarks/pipeline.py [--count 32] [--size 256] [--batch 4] [--batches 20]
                                  [--step-images-per-s X | --measure-step]

TFRecords are built in a temporary folder (never in the repository) from the first
`--count` photos of ../shared/data/photos/train/ade20k and `--count` anime faces of
../shared/data/anime/selfie2anime_faces, with the same preparation as build_tfrecords
(short side shrunk to 384, photos JPEG, anime PNG plus its edge-smoothed copy). Then
`--batches` batches (after 2 untimed ones) are drawn from `training_dataset`; one batch
element is a photo crop plus an anime crop and its smoothed copy, all decoded and augmented.

The pipeline rate is compared with the train step's consumption: `--step-images-per-s`
(e.g. from train_step.py), or `--measure-step`, which times the full generator's GAN step
(XLA off, random VGG, float32) on the pipeline's own batches in this process.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from cartoongan.data import sources, tfrecords  # noqa: E402
from cartoongan.data.pipeline import training_dataset  # noqa: E402
from cartoongan.images import list_images  # noqa: E402

PHOTOS = os.path.join(SHARED, "data", "photos", "train", "ade20k")
ANIME = os.path.join(SHARED, "data", "anime", "selfie2anime_faces")
STORED_SIZE = 384  # build_tfrecords' default short side


def build(folder, count, shards=4):
    photo_files = list_images(PHOTOS)[:count]
    anime_files = list_images(ANIME)[:count]
    photos = (
        tfrecords.photo_example(*sources.prepare_photo(str(p), str(p), STORED_SIZE, "jpg")) for p in photo_files
    )
    animes = (tfrecords.anime_example(*sources.prepare_anime(str(p), str(p), STORED_SIZE)) for p in anime_files)
    tfrecords.write_shards(photos, os.path.join(folder, tfrecords.PHOTO), shards)
    tfrecords.write_shards(animes, os.path.join(folder, tfrecords.ANIME), shards)
    return len(photo_files), len(anime_files)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=32, help="photos and anime images in the TFRecords")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--batches", type=int, default=20, help="timed batches")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of --batches (median)")
    consumer = parser.add_mutually_exclusive_group()
    consumer.add_argument("--step-images-per-s", type=float, help="the train step's rate to compare with")
    consumer.add_argument("--measure-step", action="store_true", help="time the train step here (slow)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        photo_count, anime_count = build(folder, args.count)
        print(f"built {photo_count} photos + {anime_count} anime in {time.perf_counter() - start:.1f} s")
        dataset = training_dataset(folder, args.batch, args.size, seed=0, shuffle_buffer=64)
        iterator = iter(dataset)
        for _ in range(2):
            next(iterator)
        rates = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for _ in range(args.batches):
                batch = next(iterator)
            batch["photo"].numpy()
            rates.append(args.batches * args.batch / (time.perf_counter() - start))
        rate = statistics.median(rates)
        print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs; batch {args.batch} at {args.size}x{args.size}")
        print(f"pipeline: {rate:.1f} images/s (median of {args.repeats} x {args.batches} batches)")

        step_rate = args.step_images_per_s
        if args.measure_step:
            from cartoongan.training.config import TrainConfig
            from cartoongan.training.trainer import Trainer

            config = TrainConfig(data=folder, workdir=os.path.join(folder, "run"), batch_size=args.batch,
                                 image_size=args.size, vgg_weights="random", xla="off", distribute="default")
            trainer = Trainer(config, dataset_fn=lambda input_context, seed: None)
            float(trainer._gan_step(next(iterator))["generator_loss"])
            times = []
            for _ in range(2):
                start = time.perf_counter()
                float(trainer._gan_step(next(iterator))["generator_loss"])
                times.append(time.perf_counter() - start)
            step_rate = args.batch / min(times)
            print(f"train step (full generator, GAN, XLA off): {step_rate:.2f} images/s")
    if step_rate:
        print(f"pipeline / train step: {rate / step_rate:.0f}x (above 1: the pipeline is not the bottleneck)")


if __name__ == "__main__":
    main()
