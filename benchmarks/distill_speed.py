"""Distilled students against their teacher: seconds per image through the Cartoonizer.

    python benchmarks/distill_speed.py pretrained/hayao_lite [/tmp/hayao_lite_stage1 ...] \\
        [--teacher hayao] [--size 512] [--runs 9] [--precision auto]

The teacher and every student are loaded in this one process, each called twice to warm up
(tracing), then `--runs` rounds in which each model times one call on the same random
size x size image, in turn; the medians are reported with each student's speed-up over the
teacher measured in the same rounds, so the ratios hold on a loaded machine.
"""

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
sys.path.insert(0, ROOT)
os.environ.setdefault("CARTOONGAN_WEIGHTS_URL", os.path.join(SHARED, "weights", "cartoongan"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def compare_speed(students, teacher="hayao", size=512, runs=7, precision="auto"):
    """{name: median seconds of one size x size image} for the teacher and each student."""
    import numpy as np

    from cartoongan import Cartoonizer

    image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    models = {name: Cartoonizer.from_pretrained(name, precision) for name in [teacher, *students]}
    for model in models.values():
        model(image)
        model(image)
    times = {name: [] for name in models}
    for _ in range(runs):
        for name, model in models.items():
            started = time.perf_counter()
            model(image)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(seconds) for name, seconds in times.items()}, models[teacher].precision


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("students", nargs="+", help="style names or preset directories of the students")
    parser.add_argument("--teacher", default="hayao")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    medians, precision = compare_speed(args.students, args.teacher, args.size, args.runs, args.precision)
    print(f"{args.size}x{args.size}, precision {precision}, median of {args.runs} alternating runs")
    teacher_s = medians[args.teacher]
    print(f"  {args.teacher:30s} {teacher_s:7.3f} s  (teacher)")
    for name in args.students:
        print(f"  {name:30s} {medians[name]:7.3f} s  {teacher_s / medians[name]:5.2f}x faster than the teacher")


if __name__ == "__main__":
    main()
