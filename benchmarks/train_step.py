"""Training speed: seconds a step of the Trainer takes under several configurations, in one process.

    python benchmarks/train_step.py [--size 64] [--batch 4] [--steps 5] [--warmup 1] [--phase gan|init]
        [--init-from hayao_lite] [--vgg-weights random|PATH] [--set KEY=VALUE ...]
        [--variant NAME KEY=VALUE,KEY=VALUE ...]

Each variant (default: `--xla off` and `--xla on`) is a `cartoongan.training.trainer.Trainer`
with the same config (`--set` applies to all) plus its own overrides, e.g. `--variant base ''
--variant no-texture texture_weight=0 --variant bf16 precision=bfloat16`. Each runs `--warmup`
untimed steps (tracing and, with XLA, compiling: reported), then the timed steps alternate
between the variants and the median step time is reported. The batch is one fixed synthetic
batch (random photo, anime and smoothed-anime images in [-1, 1]) held in memory, so the data
pipeline is not measured here (see pipeline.py). `--phase gan` is the full step, `init` the
content-only warm-up phase.
"""

import argparse
import json
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


def parse_overrides(text):
    """'a=1,b=x' -> {"a": 1, "b": "x"} (values read as JSON when they are JSON)."""
    overrides = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except ValueError:
            overrides[key] = value
    return overrides


def make_trainer(args, overrides, workdir):
    options = dict(batch_size=args.batch, image_size=args.size, vgg_weights=args.vgg_weights, distribute="default",
                   init_from=args.init_from or None, init_steps=0)
    options.update(parse_overrides(",".join(args.set)))
    options.update(overrides)
    config = TrainConfig(data=workdir, workdir=tempfile.mkdtemp(dir=workdir), **options)
    return Trainer(config, dataset_fn=lambda input_context, seed: None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per variant first")
    parser.add_argument("--phase", choices=["gan", "init"], default="gan")
    parser.add_argument("--init-from", default="hayao_lite", help="'' builds --set generator=... from scratch")
    parser.add_argument("--vgg-weights", default="random")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="TrainConfig fields of every variant")
    parser.add_argument("--variant", nargs=2, action="append", metavar=("NAME", "OVERRIDES"),
                        help="a configuration to time: a name and KEY=VALUE,KEY=VALUE ('' for none)")
    args = parser.parse_args(argv)
    variants = args.variant or [("xla off", "xla=off"), ("xla on", "xla=on")]

    shape = (args.batch, args.size, args.size, 3)
    batch = {
        key: tf.random.stateless_uniform(shape, seed=[0, i], minval=-1, maxval=1)
        for i, key in enumerate(("photo", "anime", "anime_smooth"))
    }
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs; {args.phase} step, batch {args.batch} at "
          f"{args.size}x{args.size}, from {args.init_from or 'scratch'}, VGG {args.vgg_weights}, {' '.join(args.set)}")
    with tempfile.TemporaryDirectory() as workdir:
        steps, first = {}, {}
        for name, overrides in variants:
            trainer = make_trainer(args, parse_overrides(overrides), workdir)
            step = trainer._gan_step if args.phase == "gan" else trainer._init_step
            start = time.perf_counter()
            for _ in range(args.warmup):
                float(step(batch)["generator_loss"])
            first[name] = time.perf_counter() - start
            steps[name] = step
        times = {name: [] for name in steps}
        for _ in range(args.steps):
            for name, step in steps.items():
                start = time.perf_counter()
                float(step(batch)["generator_loss"])
                times[name].append(time.perf_counter() - start)
    print()
    print("| variant | overrides | warm-up s (trace/compile) | s/step (median) | vs the first |")
    print("| --- | --- | --- | --- | --- |")
    base = statistics.median(times[variants[0][0]])
    for name, overrides in variants:
        seconds = statistics.median(times[name])
        print(f"| {name} | {overrides or '-'} | {first[name]:.1f} | {seconds:.3f} | {seconds / base:.2f}x |")


if __name__ == "__main__":
    main()
