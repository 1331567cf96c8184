"""Throughput of cartoongan-cartoonize-beam on the DirectRunner (1 and 2 workers; 2 sharing one model
with --large-model) against the CLI, and
which model a Beam worker should run (the Cartoonizer or the exported SavedModel).

    python benchmarks/beam.py [--photos 32] [--max-size 512] [--style hayao_lite] [--repeats 2]

End to end: every command runs as a subprocess on the same photos (real ones from
../shared/data/photos/train/ade20k, random ones without it) into a fresh output folder,
start-up (Python, TensorFlow, the model, Beam's workers) included, in alternating order per
repeat; images/s = photos / median wall time. The re-run of the same Beam command (every
output exists: nothing to do) is timed too: the fixed cost of a job.

Per image (`--models`, one process, the same resized photos, paths alternating round by
round, median): the Cartoonizer at the CLI's precision (auto), the Cartoonizer in float32
and the SavedModel that `cartoongan.export` writes (float32), one image per call and in
batches of four same-sized images.
"""

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
PHOTO_GLOB = os.path.join(SHARED, "data", "photos", "train", "ade20k", "*.jpg")
sys.path.insert(0, ROOT)


def make_photos(folder, count, seed=0):
    """`count` photos in `folder`: real ones when ../shared has them, else random ones."""
    import numpy as np
    from PIL import Image

    os.makedirs(folder)
    real = sorted(glob.glob(PHOTO_GLOB))[:count]
    for path in real:
        shutil.copy(path, folder)
    rng = np.random.default_rng(seed)
    for index in range(count - len(real)):
        Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(os.path.join(folder, f"r{index}.jpg"))
    return "real (ade20k)" if real else "random"


def commands(photos, output, style, max_size):
    python = sys.executable
    common = ["--input", photos, "--style", style, "--max-size", str(max_size)]
    beam = [python, os.path.join(ROOT, "tools", "cartoonize_beam.py")] + common
    return {
        "CLI (tools/cartoonize.py)": [python, os.path.join(ROOT, "tools", "cartoonize.py")] + common + ["--output", output],
        "Beam DirectRunner, 1 worker": beam + ["--output", output, "--direct_num_workers", "1"],
        "Beam DirectRunner, 2 workers": beam + ["--output", output, "--direct_num_workers", "2",
                                                "--direct_running_mode", "multi_processing"],
        "Beam, 2 workers, --large-model": beam + ["--output", output, "--direct_num_workers", "2",
                                                  "--direct_running_mode", "multi_processing", "--large-model"],
    }


def timed(command):
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return elapsed


def end_to_end(args, scratch):
    photos = os.path.join(scratch, "photos")
    kind = make_photos(photos, args.photos)
    print(f"{args.photos} {kind} photos, --max-size {args.max_size}, --style {args.style}, "
          f"{os.cpu_count()} CPUs, load average before: {os.getloadavg()[0]:.1f}")
    names = list(commands(photos, "", args.style, args.max_size))
    first, again = {name: [] for name in names}, {name: [] for name in names}
    for repeat in range(args.repeats):
        order = names if repeat % 2 == 0 else names[::-1]
        for name in order:
            output = os.path.join(scratch, f"out-{repeat}-{names.index(name)}")
            command = commands(photos, output, args.style, args.max_size)[name]
            first[name].append(timed(command))
            again[name].append(timed(command))
            shutil.rmtree(output)
    cli = statistics.median(first[names[0]])
    print(f"{'':32s} {'wall s':>8s} {'images/s':>9s} {'vs CLI':>7s} {'re-run s':>9s}")
    for name in names:
        wall = statistics.median(first[name])
        print(f"{name:32s} {wall:8.1f} {args.photos / wall:9.2f} {cli / wall:6.2f}x {statistics.median(again[name]):9.1f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


def per_image(args, scratch):
    from cartoongan.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    import numpy as np

    from cartoongan.export import export_saved_model
    from cartoongan.images import read_image, resize_to_max
    from cartoongan.inference import Cartoonizer
    from cartoongan.presets import load_preset

    photos = os.path.join(scratch, "model-photos")
    make_photos(photos, 4)
    images = [resize_to_max(read_image(path)[0], args.max_size)[0] for path in sorted(glob.glob(os.path.join(photos, "*")))]
    size = (min(image.shape[0] for image in images), min(image.shape[1] for image in images))
    images = [image[: size[0], : size[1]] for image in images]  # one size: a batch of four
    export_saved_model(*load_preset(args.style)[:2], os.path.join(scratch, "saved_model"))
    serve = tf.saved_model.load(os.path.join(scratch, "saved_model")).signatures["serving_default"]
    paths = {
        "Cartoonizer, precision auto": Cartoonizer.from_pretrained(args.style, precision="auto").cartoonize_batch,
        "Cartoonizer, float32": Cartoonizer.from_pretrained(args.style, precision="float32").cartoonize_batch,
        "SavedModel (export), float32": lambda batch: list(serve(images=tf.constant(np.stack(batch)))["cartoons"].numpy()),
    }
    times = {(name, batch): [] for name in paths for batch in (1, 4)}
    for name, run in paths.items():  # warm-up: tracing
        run(images[:1]), run(images)
    for _ in range(args.rounds):
        for name, run in paths.items():
            for batch in (1, 4):
                start = time.perf_counter()
                for index in range(0, len(images), batch):
                    run(images[index:index + batch])
                times[(name, batch)].append((time.perf_counter() - start) / len(images))
    print(f"per image at {size[1]}x{size[0]}, median of {args.rounds} rounds of {len(images)} images:")
    for (name, batch), values in times.items():
        print(f"  {name:30s} batch {batch}: {statistics.median(values):.3f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=32)
    parser.add_argument("--max-size", type=int, default=512)
    parser.add_argument("--style", default="hayao_lite")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the per-image comparison")
    parser.add_argument("--skip", choices=("end-to-end", "models"), action="append", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="beam-bench-") as scratch:
        if "models" not in args.skip:
            per_image(args, scratch)
        if "end-to-end" not in args.skip:
            end_to_end(args, scratch)


if __name__ == "__main__":
    main()
