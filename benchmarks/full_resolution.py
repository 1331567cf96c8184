"""Full-resolution inference: time per megapixel and peak memory against image size, whole
image against exact tiles (and against tiles with statistics estimated on a downscaled copy).

    python benchmarks/full_resolution.py [--sizes 1 3 12 24] [--style hayao] [--precision auto]
        [--modes whole tiled] [--max-whole-gb 12] [--photo FILE] [--reference 3] [--rounds 1]

Each measurement runs in a fresh process (`--worker`), so its peak resident set
(ru_maxrss, which includes TensorFlow, the model and the decoded image) is its own. The
timed call follows a warm-up on a small image (tracing, oneDNN primitive creation); the
time covers the uint8-in, uint8-out `Cartoonizer` call only; `cpu s` is the process's user
+ system CPU time over the same call (steadier than wall time on a shared machine).
`ratio` is the row's wall time per megapixel over that of whole-image inference at
`--reference` megapixels (the bar: tiled 12 MP at most 1.3x whole 3 MP), which
each round measures first, so the two come from the same run; `--rounds N` repeats the
whole table, interleaving the runs being compared. Modes:

- `whole`: `tile_size=0`; skipped where `Cartoonizer.whole_image_bytes` exceeds
  `--max-whole-gb` (24 MP would need ~21 GB);
- `tiled`: `tile_size="auto"` with the default memory budget (what the CLI does);
- `tiled512`: 512-pixel tiles;
- `approx`: every instance norm uses statistics measured on a copy shrunk to 1 MP, then one
  tiled pass with those statistics (the cheap alternative to exact streaming).

PSNR is measured against the `whole` output of the same size when one was computed. The
photo (default: scikit-image's `astronaut`, public domain, if scikit-image is installed,
else a synthetic picture) is resized with Lanczos to each size at 4:3.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def make_photo(megapixels, path=None):
    if path:
        base = Image.open(path).convert("RGB")
    else:
        try:
            from skimage import data

            base = Image.fromarray(data.astronaut())
        except ImportError:
            y, x = np.mgrid[0:512, 0:512] / 512.0
            base = Image.fromarray((np.stack([x, y, (x * y) ** 0.5], -1) * 255).astype(np.uint8))
    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(width * 3 / 4))
    # Crop the base to 4:3 before resizing, so the content is not stretched.
    w, h = base.size
    if w / h > 4 / 3:
        base = base.crop(((w - h * 4 // 3) // 2, 0, (w - h * 4 // 3) // 2 + h * 4 // 3, h))
    else:
        base = base.crop((0, (h - w * 3 // 4) // 2, w, (h - w * 3 // 4) // 2 + w * 3 // 4))
    return np.asarray(base.resize((width, height), Image.Resampling.LANCZOS))


def _approx_statistics(cartoonizer, image):
    """Every norm's statistics on the image shrunk to about 1 MP, then set on the tiler."""
    import keras
    import tensorflow as tf

    from cartoongan.inference import edge_pad_to_multiple
    from cartoongan.models.layers import InstanceNormalization
    height, width = image.shape[:2]
    scale = min(1.0, (1e6 / (height * width)) ** 0.5)
    small = np.asarray(Image.fromarray(image).resize((round(width * scale), round(height * scale)),
                                                     Image.Resampling.LANCZOS))
    generator = cartoonizer.generator
    norms = [layer for layer in generator.layers if isinstance(layer, InstanceNormalization)]
    probe = keras.Model(generator.inputs, [layer.input for layer in norms])
    x = tf.cast(small[None], tf.float32)
    if cartoonizer.preprocessing.channel_order == "BGR":
        x = x[..., ::-1]
    x = edge_pad_to_multiple(x / 127.5 - 1.0, cartoonizer.preprocessing.size_multiple)
    maps = probe(x)
    return {layer.name: layer.moments(m) for layer, m in zip(norms, maps)}


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(args):
    from cartoongan import Cartoonizer

    image = make_photo(args.megapixels, args.photo)
    tile_size = {"whole": 0, "tiled": "auto", "tiled512": 512, "approx": 512}[args.mode]
    cartoonizer = Cartoonizer.from_pretrained(args.style, precision=args.precision, tile_size=tile_size)
    warm = make_photo(0.1, args.photo)
    cartoonizer(warm)
    cartoonizer(warm[:-4, :-8])
    chosen = cartoonizer.choose_tile_size(*image.shape[:2])
    cpu_start = _cpu_seconds()
    start = time.perf_counter()
    if args.mode == "approx":
        statistics = _approx_statistics(cartoonizer, image)
        tiler = cartoonizer._tiler(512)
        tiler.store_values_per_pixel = 0
        tiler.fixed_statistics = statistics
        output = cartoonizer._cartoonize_tiled(image, 512)
    else:
        output = cartoonizer(image)
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_start
    if args.save:
        np.save(args.save, output)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_bytes": peak, "tile": chosen,
                      "shape": list(image.shape[:2]), "precision": cartoonizer.precision}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 3, 12, 24], help="megapixels")
    parser.add_argument("--modes", nargs="+", default=["whole", "tiled"],
                        choices=["whole", "tiled", "tiled512", "approx"])
    parser.add_argument("--style", default="hayao")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--photo", help="an image file to resize (default: scikit-image's astronaut)")
    parser.add_argument("--max-whole-gb", type=float, default=12.0,
                        help="skip whole-image runs estimated to need more (default: 12)")
    parser.add_argument("--reference", type=float, default=3.0,
                        help="megapixels of the whole-image run the ratios refer to (default: 3)")
    parser.add_argument("--rounds", type=int, default=1, help="times the whole table is measured (default: 1)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--megapixels", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    from cartoongan.images import psnr

    print(f"style {args.style}, precision {args.precision}; one fresh process per row", flush=True)
    header = (f"{'MP':>5} {'size':>11} {'mode':>9} {'tile':>5} {'s':>8} {'s/MP':>7} {'cpu s':>8} {'peak GB':>8} "
              f"{'PSNR dB':>8} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            if args.rounds > 1:
                print(f"round {round_ + 1}")
            print(header, flush=True)
            reference = _measure(args, args.reference, "whole", folder)
            if reference is None:
                continue
            reference_per_mp = reference[0]["seconds"] / args.reference
            _print_row(args.reference, "whole", *reference, reference_per_mp, "(reference)")
            for megapixels in args.sizes:
                whole_output = reference[1] if megapixels == args.reference else None
                for mode in args.modes:
                    if mode == "whole" and megapixels == args.reference:
                        continue  # measured above
                    if mode == "whole":
                        height, width = make_photo(megapixels, args.photo).shape[:2]
                        estimate = _estimator(args.style).whole_image_bytes(height, width)
                        if estimate > args.max_whole_gb * 1e9:
                            print(f"{megapixels:5g} {'':>11} {'whole':>9}  skipped: estimated {estimate / 1e9:.1f} GB"
                                  f" > --max-whole-gb {args.max_whole_gb:g}", flush=True)
                            continue
                    measured = _measure(args, megapixels, mode, folder)
                    if measured is None:
                        continue
                    result, output = measured
                    quality = ""
                    if mode == "whole":
                        whole_output = output
                    elif whole_output is not None:
                        quality = f"{psnr(whole_output, output):8.2f}"
                    _print_row(megapixels, mode, result, output, reference_per_mp, quality)
                    del output


def _measure(args, megapixels, mode, folder):
    """(the worker's result, its output) for one fresh-process run, or None if it failed."""
    save = os.path.join(folder, f"{megapixels}-{mode}.npy")
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--megapixels", str(megapixels),
               "--mode", mode, "--style", args.style, "--precision", args.precision, "--save", save]
    if args.photo:
        command += ["--photo", args.photo]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"{megapixels:5g} {mode:>9} failed:\n{done.stderr[-2000:]}", flush=True)
        return None
    result = json.loads(done.stdout.strip().splitlines()[-1])
    output = np.load(save)
    os.remove(save)
    return result, output


def _print_row(megapixels, mode, result, output, reference_per_mp, quality=""):
    height, width = result["shape"]
    per_mp = result["seconds"] / megapixels
    print(f"{megapixels:5g} {f'{width}x{height}':>11} {mode:>9} {result['tile']:>5} {result['seconds']:8.1f} "
          f"{per_mp:7.2f} {result['cpu_seconds']:8.1f} {result['peak_bytes'] / 1e9:8.2f} {quality:>8} "
          f"{per_mp / reference_per_mp:6.2f}", flush=True)


_ESTIMATORS = {}


def _estimator(style):
    from cartoongan import Cartoonizer

    if style not in _ESTIMATORS:
        _ESTIMATORS[style] = Cartoonizer.from_pretrained(style, precision="float32")
    return _ESTIMATORS[style]


if __name__ == "__main__":
    main()
