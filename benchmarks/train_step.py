"""Training speed: images/s of the Trainer's step with XLA on and off, in one process.

    python benchmarks/train_step.py [--size 256] [--batch 4] [--steps 3] [--warmup 1]
                                    [--phase gan|init] [--generator cartoongan|light] [--precision float32]

Two `cartoongan.training.trainer.Trainer`s (random VGG, so nothing is downloaded) are built
with the same config except `xla` ("off" and "on"); each runs `--warmup` steps (tracing and,
with XLA, compiling: reported separately), then the timed steps alternate between the two
and the median step time is reported. The batch is one fixed synthetic batch (random photo,
anime and smoothed-anime images in [-1, 1]) held in memory, so the data pipeline is not
measured here (see pipeline.py). `--phase gan` is the full step (generator, discriminator
on three inputs, VGG content loss, both optimizers); `init` the content-only warm-up phase.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from cartoongan.training.config import TrainConfig  # noqa: E402
from cartoongan.training.trainer import Trainer  # noqa: E402


def make_trainer(args, xla, workdir):
    config = TrainConfig(
        data=workdir,
        workdir=os.path.join(workdir, f"xla-{xla}"),
        generator=args.generator,
        batch_size=args.batch,
        image_size=args.size,
        vgg_weights="random",
        precision=args.precision,
        xla=xla,
        distribute="default",
    )
    return Trainer(config, dataset_fn=lambda input_context, seed: None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per setting (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per setting first")
    parser.add_argument("--phase", choices=["gan", "init"], default="gan")
    parser.add_argument("--generator", choices=["cartoongan", "light"], default="cartoongan")
    parser.add_argument("--precision", choices=["float32", "bfloat16", "float16"], default="float32")
    parser.add_argument("--xla", nargs="+", choices=["off", "on"], default=["off", "on"])
    args = parser.parse_args(argv)

    shape = (args.batch, args.size, args.size, 3)
    batch = {
        key: tf.random.stateless_uniform(shape, seed=[0, i], minval=-1, maxval=1)
        for i, key in enumerate(("photo", "anime", "anime_smooth"))
    }
    print(
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs; {args.generator} generator, {args.phase} step, "
        f"batch {args.batch} at {args.size}x{args.size}, {args.precision}, random VGG"
    )
    with tempfile.TemporaryDirectory() as workdir:
        trainers, first = {}, {}
        for xla in args.xla:
            trainer = make_trainer(args, xla, workdir)
            step = trainer._gan_step if args.phase == "gan" else trainer._init_step
            start = time.perf_counter()
            for _ in range(args.warmup):
                metrics = step(batch)
                float(metrics["generator_loss"])
            first[xla] = time.perf_counter() - start
            trainers[xla] = step
        times = {xla: [] for xla in trainers}
        for _ in range(args.steps):
            for xla, step in trainers.items():
                start = time.perf_counter()
                metrics = step(batch)
                float(metrics["generator_loss"])
                times[xla].append(time.perf_counter() - start)
    print()
    print("| XLA | warm-up s (trace/compile) | s/step (median) | images/s | vs XLA off |")
    print("| --- | --- | --- | --- | --- |")
    base = statistics.median(times[args.xla[0]])
    for xla, t in times.items():
        seconds = statistics.median(t)
        print(f"| {xla} | {first[xla]:.1f} | {seconds:.2f} | {args.batch / seconds:.2f} | {base / seconds:.2f}x |")


if __name__ == "__main__":
    main()
