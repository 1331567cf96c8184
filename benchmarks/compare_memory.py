"""Peak memory and time of a compare run over many photos: `tools/compare.py` in a child
process, the default style, two looks (default and strength=0.5), a JPEG sheet.

    python benchmarks/compare_memory.py [--photos 600] [--sizes ade20k|random] [--checkout DIR]

--sizes ade20k: the first photos of ../shared/data/photos/train/ade20k as they are (long side
512: 65 padded input sizes among the first 600); random: the same photos resized to random
sizes of 200 to 900 pixels a side (seed 0; 483 sizes among 600 after the 512 px shrink).
--checkout: the project folder whose tools/compare.py runs (another version of the project,
e.g. `git archive` of an older commit unpacked), this one by default. Peak: the child's
maximum resident set size (ru_maxrss; MB = 1,000 KiB), as `/usr/bin/time -v` reports it
(docs/reliability.md). One run a call: the runs of two versions are compared on a quiet
machine, one after the other.
"""

import argparse
import glob
import os
import random
import subprocess
import sys
import tempfile
import time

from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ADE20K = os.path.join(ROOT, "..", "shared", "data", "photos", "train", "ade20k")


def make_photos(folder, count, sizes):
    sources = sorted(glob.glob(os.path.join(ADE20K, "*.jpg")))[:count]
    if len(sources) < count:
        sys.exit(f"{ADE20K}: {len(sources)} photos, {count} asked for")
    rng = random.Random(0)
    for index, source in enumerate(sources):
        target = os.path.join(folder, f"{index:04d}.jpg")
        if sizes == "ade20k":
            os.symlink(os.path.abspath(source), target)
        else:
            with Image.open(source) as image:
                size = rng.randint(200, 900), rng.randint(200, 900)
                image.convert("RGB").resize(size).save(target, quality=85)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=600)
    parser.add_argument("--sizes", choices=["ade20k", "random"], default="ade20k")
    parser.add_argument("--checkout", default=ROOT, help="project folder whose tools/compare.py runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        photos = os.path.join(folder, "photos")
        os.mkdir(photos)
        make_photos(photos, args.photos, args.sizes)
        command = [sys.executable, os.path.join(args.checkout, "tools", "compare.py"), "--photos", photos,
                   "--looks", "default", "strength=0.5", "--output", os.path.join(folder, "sheet.jpg")]
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        errors = child.stderr.read().decode(errors="replace")
        child.stderr.close()
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"compare failed:\n{errors[-2000:]}")
        print(f"{args.photos} photos ({args.sizes}), {os.path.abspath(args.checkout)}: "
              f"peak {usage.ru_maxrss / 1000:,.0f} MB, {seconds:.0f} s")


if __name__ == "__main__":
    main()
