"""Inference speed: the Cartoonizer (float32 and the fast "auto" precision) against a plain
float32 TensorFlow graph of the same network, and against this machine's matmul peak.

    python benchmarks/inference.py [--sizes 256 512 1024] [--repeats 5] [--models full light]

Everything is measured in one process, the paths of one model and size alternating round
by round, and the median reported, so the ratios stay meaningful on a loaded machine.

Per model, size and path it prints: seconds per image (median), GFLOP per image (2 x the
multiply-adds of every Conv2D, Conv2DTranspose and DepthwiseConv2D of the Keras model, from
the static shapes at that size), the achieved GFLOP/s and its share of the matmul peak of the
path's precision (a 4096x4096 tf.matmul, float32 and bfloat16, measured in the same run),
the speedup over the float32 Cartoonizer and (full model only) over the plain float32 TF
graph of `plain_tf_generator.py`, the PSNR of the path's uint8 output against the float32
Cartoonizer's on real photos, and with `--memory` the peak memory of one call (the rise
of the peak resident set, VmHWM of /proc/self/status, over the resident set before the
call, in a fresh process per path and size: in the benchmark's own process TensorFlow's
allocator keeps freed buffers resident and hides every later peak).

The full model is the `hayao` preset (upstream weights from CARTOONGAN_WEIGHTS_URL, default
../shared/weights/cartoongan; cache CARTOONGAN_HOME); the light generator has random weights
(its speed does not depend on them; its PSNR column then compares random networks).
"""

import argparse
import glob
import os
import statistics
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("CARTOONGAN_WEIGHTS_URL", os.path.join(SHARED, "weights", "cartoongan"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from cartoongan import Cartoonizer  # noqa: E402
from cartoongan import precision as precision_lib  # noqa: E402
from cartoongan.families.light.generator import LightGenerator  # noqa: E402
from cartoongan.images import psnr  # noqa: E402
from cartoongan.presets import Preprocessing  # noqa: E402
from plain_tf_generator import make_plain_generator  # noqa: E402

PHOTO_GLOB = os.path.join(SHARED, "data", "photos", "train", "ade20k", "*.jpg")


# --- measurements ---------------------------------------------------------------------


def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def memory_in_child(model, path, size, style):
    """Peak memory of `path` in a fresh process: the rise of the peak resident set (VmHWM)
    over the resident set after the model is loaded, during its first call on a size x size
    photo (tracing included). In this process it would read 0: TensorFlow's allocator keeps
    freed buffers resident, so a later call's peak hides under the earlier ones'."""
    import subprocess

    command = [sys.executable, os.path.abspath(__file__), "--memory-child", model, path, str(size), "--style", style]
    result = subprocess.run(command, capture_output=True, text=True)
    try:
        return float(result.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return None


def _memory_child(model, path, size, style):
    generator, paths = full_model_paths(style) if model == "full" else light_model_paths()
    function = next(f for name, f in paths.items() if name.split()[0] == path)
    image = photos(size, count=1)[0]
    before = _status_kb("VmRSS")
    function(image)
    print((_status_kb("VmHWM") - before) / 1024)


def matmul_peak_gflops(dtype, n=4096, repeats=5):
    a = tf.cast(tf.random.normal([n, n]), dtype)
    b = tf.cast(tf.random.normal([n, n]), dtype)
    matmul = tf.function(lambda: tf.matmul(a, b))
    matmul().numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul().numpy()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / min(times) / 1e9


def conv_gflop(model, size):
    """2 x multiply-adds of the model's convolutions for one size x size image."""
    convs = [
        layer
        for layer in model.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.DepthwiseConv2D))
    ]
    probe = keras.Model(model.inputs, [(layer.input, layer.output) for layer in convs])
    shapes = tf.function(probe).get_concrete_function(tf.TensorSpec([1, size, size, 3], model.inputs[0].dtype))
    macs = 0
    for layer, (inputs, outputs) in zip(convs, shapes.structured_outputs):
        kh, kw = layer.kernel_size
        _, hi, wi, ci = inputs.shape
        _, ho, wo, co = outputs.shape
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            macs += ho * wo * kh * kw * co
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            macs += hi * wi * kh * kw * ci * co  # every input pixel scatters a kh x kw x co patch
        else:
            macs += ho * wo * kh * kw * (ci // layer.groups) * co
    return 2 * macs / 1e9


def photos(size, count=3):
    files = sorted(glob.glob(PHOTO_GLOB))[:count]
    if not files:
        rng = np.random.default_rng(0)
        return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]
    return [
        np.asarray(Image.open(f).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)) for f in files
    ]


# --- models -----------------------------------------------------------------------------


def full_model_paths(style):
    fast = precision_lib.resolve("auto")
    float32 = Cartoonizer.from_pretrained(style, precision="float32")
    paths = {"float32": float32, f"auto ({fast})": Cartoonizer.from_pretrained(style, precision="auto")}
    folder = os.path.join(os.environ["CARTOONGAN_WEIGHTS_URL"].removeprefix("file://"), style)
    tensors = {name[: -len(".npy")]: np.load(os.path.join(folder, name)) for name in os.listdir(folder)}
    plain = make_plain_generator(tensors)

    def plain_tf(image):
        x = tf.constant(image[None, ..., ::-1], tf.float32) / 127.5 - 1.0  # RGB uint8 -> BGR [-1, 1]
        y = plain(x).numpy()[0, ..., ::-1]
        return np.clip(np.round((y + 1.0) * 127.5), 0, 255).astype(np.uint8)

    paths["plain TF float32"] = plain_tf
    return float32.generator, paths


def light_model_paths():
    fast = precision_lib.resolve("auto")
    keras.utils.set_random_seed(0)
    float32 = LightGenerator()
    low = LightGenerator(dtype=precision_lib.dtype_policy(fast))
    low.set_weights(float32.get_weights())
    rgb = Preprocessing("RGB")
    return float32, {"float32": Cartoonizer(float32, rgb, "float32"), f"auto ({fast})": Cartoonizer(low, rgb, fast)}


# --- the run ----------------------------------------------------------------------------


def bench(model_name, generator, paths, size, repeats, peaks, memory_flag=False, model_key="full", style="hayao",
          photo_count=3):
    images = photos(size, photo_count)
    gflop = conv_gflop(generator, size)
    reference = [paths["float32"](image) for image in images]
    quality, memory = {}, {}
    for name, path in paths.items():
        outputs = [path(image) for image in images]  # also the warm-up (tracing)
        quality[name] = min(psnr(o, r) for o, r in zip(outputs, reference))
        if memory_flag:
            memory[name] = memory_in_child(model_key, name.split()[0], size, style)
        else:
            memory[name] = None
    times = {name: [] for name in paths}
    for _ in range(repeats):
        for name, path in paths.items():
            start = time.perf_counter()
            path(images[0])
            times[name].append(time.perf_counter() - start)
    seconds = {name: statistics.median(t) for name, t in times.items()}
    rows = []
    for name in paths:
        peak_dtype = "bfloat16" if "bfloat16" in name else "float32"
        rate = gflop / seconds[name]
        plain = seconds.get("plain TF float32")
        rows.append(
            [
                model_name,
                size,
                name,
                f"{seconds[name]:.3f}",
                f"{gflop:.1f}",
                f"{rate:.0f}",
                f"{100 * rate / peaks[peak_dtype]:.0f}% ({peak_dtype})",
                f"{seconds['float32'] / seconds[name]:.2f}x",
                "-" if plain is None else f"{plain / seconds[name]:.2f}x",
                "ref" if name == "float32" else f"{quality[name]:.1f}",
                "-" if memory[name] is None else f"{memory[name]:.0f}",
            ]
        )
    return rows


HEADER = [
    "model", "size", "path", "s/image", "GFLOP", "GFLOP/s", "of matmul peak",
    "vs float32", "vs plain TF", "PSNR dB (min)", "peak MB",
]


def print_row(cells):
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per size (median)")
    parser.add_argument("--models", nargs="+", default=["full", "light"], choices=["full", "light"])
    parser.add_argument("--style", default="hayao", help="preset of the full model (default: hayao)")
    parser.add_argument("--photos", type=int, default=3, help="real photos the PSNR is taken over (default: 3)")
    parser.add_argument("--memory", action="store_true",
                        help="also measure each path's peak memory, in a fresh process per path and size (slow)")
    parser.add_argument("--memory-child", nargs=3, metavar=("MODEL", "PATH", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        model, path, size = args.memory_child
        _memory_child(model, path, int(size), args.style)
        return

    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, auto precision: {precision_lib.resolve('auto')}")
    peaks = {"float32": matmul_peak_gflops(tf.float32), "bfloat16": matmul_peak_gflops(tf.bfloat16)}
    print(f"matmul 4096x4096 peak: float32 {peaks['float32']:.0f} GFLOP/s, bfloat16 {peaks['bfloat16']:.0f} GFLOP/s")
    print()
    print_row(HEADER)
    print_row(["---"] * len(HEADER))
    models = {}
    if "full" in args.models:
        models["full " + args.style] = ("full", *full_model_paths(args.style))
    if "light" in args.models:
        models["light (random)"] = ("light", *light_model_paths())
    for size in args.sizes:
        # Re-measured before every size and the best kept: a single measurement taken while
        # another job holds a core would make the "of matmul peak" column exceed 100%.
        for dtype, name in ((tf.float32, "float32"), (tf.bfloat16, "bfloat16")):
            peaks[name] = max(peaks[name], matmul_peak_gflops(dtype, repeats=3))
        for model_name, (key, generator, paths) in models.items():
            for row in bench(model_name, generator, paths, size, args.repeats, peaks, args.memory, key, args.style,
                             args.photos):
                print_row(row)
    print()
    print(f"matmul peak used (best of all measurements): float32 {peaks['float32']:.0f}, bfloat16 {peaks['bfloat16']:.0f} GFLOP/s")
    print(f"PSNR: min over {args.photos} photos of the uint8 output vs the float32 Cartoonizer's. peak MB (--memory): rise of "
          "VmHWM over VmRSS during the first call, in a fresh process per path.")


if __name__ == "__main__":
    main()
