"""The look controls (cartoongan.look), measured.

    python benchmarks/look.py                 # style scale on a 12 MP photo (the tiles run takes minutes)
    python benchmarks/look.py --no-tiles      # without the --max-size 0 tiles run
    python benchmarks/look.py --sweep         # guided upsampling radius x eps
    python benchmarks/look.py --blend         # strength: sRGB against linear light against CIELAB
    python benchmarks/look.py --keep-colors   # colour keeping: CIELAB against YCbCr
    python benchmarks/look.py --figure docs/look.jpg --photo coffee.png

The 12 MP photo is a mosaic of 30 Urban100 photos from ../shared (768x510 each, 3840x3060):
no 12 MP photo can be had here, and an upscaled small one has no fine detail to keep, where
a mosaic has a real photo's detail at every pixel. Rows of the main table:

- `style-size`: `Cartoonizer(style_size=1024)`: the network at 1024 px, guided upsampling;
- `max-size+lanczos`: the network on the photo shrunk to 1024 px (`--max-size 1024`), the
  result enlarged to full size with Lanczos;
- `1024 result`: that 1024 px result itself (the look to keep);
- `max-size 0 tiles`: the network on the full photo, in tiles (`--max-size 0`).

`sharpness`: gradient energy (mean squared difference of neighbouring grey levels) over the
photo's at the same size; `PSNR`: the result shrunk to 1024 px (Lanczos) against the 1024 px
result (the look is kept: >= 30 dB); time and peak resident memory come from a fresh process
per row (`--worker`), the network's warm-up on a small image excluded; ratios are against
the tiles row.

`--blend` and `--keep-colors` use the 22 held-out photos of ../shared/data/eval (384 px)
and their hayao results. `--blend` asks of each space whether the slider is even (the
CIEDE2000 distance from the photo at strength s, over that of the full result, should be s)
and whether the midpoint goes grey or dark (its CIELAB chroma and lightness against the
mean of the two ends'). `--keep-colors` checks each way in the other's terms too: how far
the kept chroma is from the photo's and the lightness from the result's, in CIELAB and in
YCbCr, and how often the colour leaves the sRGB gamut (and is clipped).
"""

import argparse
import glob
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

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from cartoongan import look  # noqa: E402
from cartoongan.images import psnr, resize  # noqa: E402
from cartoongan.options import LookOptions  # noqa: E402

SHARED = os.path.join(ROOT, "..", "shared", "data")
STYLE_SIZE = 1024


def mosaic_photo():
    """3840x3060 (11.8 MP): 6 rows of 5 Urban100 photos of about 768x510."""
    tiles = []
    for path in sorted(glob.glob(os.path.join(SHARED, "photos", "train", "curban100", "*.jpg"))):
        image = Image.open(path).convert("RGB")
        if image.size[0] == 768 and 500 <= image.size[1] <= 520:
            tiles.append(np.asarray(image.resize((768, 510), Image.Resampling.LANCZOS)))
    if len(tiles) < 30:
        sys.exit(f"need 30 Urban100 photos of about 768x510 in {SHARED}/photos/train/curban100, found {len(tiles)}")
    return np.ascontiguousarray(np.concatenate([np.concatenate(tiles[r * 5:r * 5 + 5], 1) for r in range(6)], 0))


def sharpness(rgb):
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.mean(np.diff(grey, axis=0) ** 2) + np.mean(np.diff(grey, axis=1) ** 2))


def small_size(image):
    return LookOptions(style_size=STYLE_SIZE).style_input_size(*image.shape[:2])


# --- the main table: one fresh process per row ----------------------------------------------

def worker(args):
    from cartoongan import Cartoonizer

    photo = mosaic_photo()
    height, width = small_size(photo)
    options = {"style-size": dict(style_size=STYLE_SIZE), "tiles": dict(tile_size="auto")}.get(args.mode, {})
    cartoonizer = Cartoonizer.from_pretrained(args.style, precision=args.precision, **options)
    cartoonizer(photo[:256, :320])  # warm-up: tracing, oneDNN primitives
    start = time.perf_counter()
    if args.mode == "max-size":  # the CLI's --max-size 1024, then an image editor's upscale
        small = cartoonizer(resize(photo, (width, height)))
        output = resize(small, (photo.shape[1], photo.shape[0]))
        np.save(args.save + ".small.npy", small)
    else:
        output = cartoonizer(photo)
    seconds = time.perf_counter() - start
    np.save(args.save, output)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak_bytes": peak, "precision": cartoonizer.precision}))


def measure(args, mode, folder):
    save = os.path.join(folder, mode + ".npy")
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--mode", mode, "--style", args.style,
               "--precision", args.precision, "--save", save]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), save


def main_table(args):
    photo = mosaic_photo()
    height, width = small_size(photo)
    print(f"photo {photo.shape[1]}x{photo.shape[0]} ({photo.shape[0] * photo.shape[1] / 1e6:.1f} MP), style "
          f"{args.style}, precision {args.precision}, style size {STYLE_SIZE} ({width}x{height})", flush=True)
    photo_sharpness, small_photo = sharpness(photo), resize(photo, (width, height))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        modes = ["style-size", "max-size"] + ([] if args.no_tiles else ["tiles"])
        results = {mode: measure(args, mode, folder) for mode in modes}
        reference = np.load(results["max-size"][1] + ".small.npy")
        for mode, label in [("style-size", f"style-size {STYLE_SIZE}"), ("max-size", f"max-size {STYLE_SIZE}+lanczos"),
                            ("tiles", "max-size 0 tiles")]:
            if mode not in results:
                continue
            info, path = results[mode]
            output = np.load(path)
            rows.append((label, sharpness(output) / photo_sharpness, psnr(resize(output, (width, height)), reference),
                         info["seconds"], info["peak_bytes"]))
            if mode == "max-size":
                rows.append((f"{STYLE_SIZE} result", sharpness(reference) / sharpness(small_photo), float("inf"),
                             None, None))
    tiles = next((row for row in rows if row[0].endswith("tiles")), None)
    print(f"{'':24s} {'sharpness':>9s} {'PSNR dB':>8s} {'s':>7s} {'peak GB':>8s} {'time/tiles':>10s} "
          f"{'mem/tiles':>9s}")
    for label, sharp, quality, seconds, peak in rows:
        timing = "" if seconds is None else f"{seconds:7.1f} {peak / 1e9:8.2f}"
        ratios = "" if seconds is None or tiles is None else f" {seconds / tiles[3]:10.3f} {peak / tiles[4]:9.2f}"
        print(f"{label:24s} {sharp:9.3f} {quality:8.2f} {timing:>16s}{ratios}")
    print("sharpness of the 1024 result: against the photo shrunk to 1024 px")


# --- guided upsampling parameters ---------------------------------------------------------------

def sweep(args):
    from cartoongan import Cartoonizer

    photo = mosaic_photo()
    height, width = small_size(photo)
    small_photo = resize(photo, (width, height))
    small = Cartoonizer.from_pretrained(args.style, precision=args.precision)(small_photo)
    photo_sharpness = sharpness(photo)
    print(f"{'radius':>6s} {'eps':>7s} {'residual':>8s} {'PSNR dB':>8s} {'sharpness':>9s} {'s':>6s}")
    for radius in (1, 2, 4, 8):
        for eps in (1e-5, 1e-4, 1e-3, 1e-2):
            for residual in (True, False) if (radius, eps) == (look.GUIDE_RADIUS, look.GUIDE_EPS) else (True,):
                start = time.perf_counter()
                full = look.guided_upsample(photo, small_photo, small, radius, eps, residual=residual)
                seconds = time.perf_counter() - start
                print(f"{radius:6d} {eps:7.0e} {str(residual):>8s} {psnr(resize(full, (width, height)), small):8.2f} "
                      f"{sharpness(full) / photo_sharpness:9.3f} {seconds:6.1f}", flush=True)


# --- strength and colour keeping on the eval photos -------------------------------------------------

def eval_pairs(args):
    from cartoongan import Cartoonizer

    cartoonizer = Cartoonizer.from_pretrained(args.style, precision=args.precision)
    paths = sorted(glob.glob(os.path.join(SHARED, "eval", "animegan_comparison", "photos", "*.jpg")))
    for path in paths:
        photo = np.asarray(Image.open(path).convert("RGB"))
        yield photo, cartoonizer(photo)


def blend_table(args):
    strengths = (0.25, 0.5, 0.75)
    spaces = ("rgb", "linear", "lab")
    evenness = {space: [] for space in spaces}
    greying = {space: [] for space in spaces}
    darkening = {space: [] for space in spaces}
    for photo, result in eval_pairs(args):
        lab_photo, lab_result = look.rgb_to_lab(photo), look.rgb_to_lab(result)
        full = look.ciede2000(lab_photo, lab_result)
        changed = full > 5  # pixels the style changes visibly
        ends_chroma = (np.hypot(*np.moveaxis(lab_photo[..., 1:], -1, 0)) + np.hypot(*np.moveaxis(lab_result[..., 1:], -1, 0))) / 2
        ends_lightness = (lab_photo[..., 0] + lab_result[..., 0]) / 2
        for space in spaces:
            for s in strengths:
                lab = look.rgb_to_lab(look.blend(photo, result, s, space))
                ratio = look.ciede2000(lab_photo, lab)[changed] / full[changed]
                evenness[space].append(np.mean(np.abs(ratio - s)))
                if s == 0.5:
                    greying[space].append(np.mean((np.hypot(*np.moveaxis(lab[..., 1:], -1, 0)) - ends_chroma)[changed]))
                    darkening[space].append(np.mean((lab[..., 0] - ends_lightness)[changed]))
    print(f"{'space':>7s} {'|dE00 ratio - s|':>17s} {'midpoint chroma':>16s} {'midpoint L*':>12s}")
    for space in spaces:
        print(f"{space:>7s} {np.mean(evenness[space]):17.3f} {np.mean(greying[space]):+16.2f} "
              f"{np.mean(darkening[space]):+12.2f}")
    print("(strengths 0.25, 0.5, 0.75 on pixels the style moves by dE00 > 5; midpoint: strength 0.5 against the "
          "mean of the ends)")


def keep_colors_cielab(photo, result):
    """The alternative to `look.keep_colors`: the result's L* with the photo's a*, b*."""
    lab = look.rgb_to_lab(result)
    lab[..., 1:] = look.rgb_to_lab(photo)[..., 1:]
    return look.lab_to_rgb(lab)


def _ycrcb_to_rgb(ycrcb):
    """BT.601 full range (JPEG), unclipped float RGB."""
    y, cr, cb = ycrcb[..., 0], ycrcb[..., 1] - 128, ycrcb[..., 2] - 128
    return np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], -1)


def keep_colors_table(args):
    rows = {"cielab": [], "ycbcr": []}
    for photo, result in eval_pairs(args):
        lab_photo, lab_result = look.rgb_to_lab(photo), look.rgb_to_lab(result)
        ycc_photo = cv2.cvtColor(photo, cv2.COLOR_RGB2YCrCb).astype(np.float32)
        ycc_result = cv2.cvtColor(result, cv2.COLOR_RGB2YCrCb).astype(np.float32)
        # out of gamut: the target colour's RGB before clipping
        target_lab = np.concatenate([lab_result[..., :1], lab_photo[..., 1:]], -1)
        lab_rgb = cv2.cvtColor(target_lab, cv2.COLOR_Lab2RGB)  # float: OpenCV clips, so test the round trip
        lab_out = np.any(np.abs(look.rgb_to_lab(look._to_uint8(lab_rgb * 255))[..., 1:] - target_lab[..., 1:]) > 3, -1)
        ycc_target = np.concatenate([ycc_result[..., :1], ycc_photo[..., 1:]], -1)
        ycc_rgb = _ycrcb_to_rgb(ycc_target)
        ycc_out = np.any((ycc_rgb < -0.5) | (ycc_rgb > 255.5), -1)
        for name, kept, out in (("cielab", keep_colors_cielab(photo, result), lab_out),
                                ("ycbcr", look.keep_colors(photo, result), ycc_out)):
            lab, ycc = look.rgb_to_lab(kept), cv2.cvtColor(kept, cv2.COLOR_RGB2YCrCb).astype(np.float32)
            rows[name].append([np.mean(np.hypot(*np.moveaxis(lab[..., 1:] - lab_photo[..., 1:], -1, 0))),
                               np.mean(np.abs(lab[..., 0] - lab_result[..., 0])),
                               np.mean(np.hypot(*np.moveaxis(ycc[..., 1:] - ycc_photo[..., 1:], -1, 0))),
                               np.mean(np.abs(ycc[..., 0] - ycc_result[..., 0])), np.mean(out)])
    print(f"{'kept in':>7s} {'d(a*b*) photo':>14s} {'dL* result':>11s} {'d(CbCr) photo':>14s} {'dY result':>10s} "
          f"{'clipped':>8s}")
    for name, values in rows.items():
        a, b, c, d, e = np.mean(values, axis=0)
        print(f"{name:>7s} {a:14.2f} {b:11.2f} {c:14.2f} {d:10.2f} {e:8.1%}")


# --- the README's pictures ----------------------------------------------------------------------------

def figure(args):
    """Row 1: the photo and each control, shrunk; row 2: 100% crops of the same photo styled at a
    quarter of its size (as --style-size 1024 on a 4000x3000 photo): enlarged with Lanczos,
    guided-upsampled, and, for reference, the style run at full size."""
    from PIL import ImageDraw

    from cartoongan import Cartoonizer

    photo = np.asarray(Image.open(args.photo).convert("RGB"))
    cartoonizer = Cartoonizer.from_pretrained(args.style, precision=args.precision)
    small_side = max(photo.shape[:2]) // 4
    height, width = LookOptions(style_size=small_side).style_input_size(*photo.shape[:2])
    styled = cartoonizer(photo)
    cell = 250
    scale = cell / max(photo.shape[:2])
    size = (cell, round(photo.shape[0] * scale))
    top, left = (photo.shape[0] - size[1]) // 2, (photo.shape[1] - size[0]) // 2
    crop = lambda image: image[top:top + size[1], left:left + size[0]]
    rows = [[("photo", resize(photo, size)), ("style", resize(styled, size)),
             ("--strength 0.5", resize(cartoonizer.with_look(strength=0.5)(photo), size)),
             ("--keep-colors", resize(cartoonizer.with_look(keep_colors=True)(photo), size))],
            [("100%: photo", crop(photo)),
             (f"--max-size {small_side}, enlarged", crop(resize(cartoonizer(resize(photo, (width, height))),
                                                                (photo.shape[1], photo.shape[0])))),
             (f"--style-size {small_side}", crop(cartoonizer.with_look(style_size=small_side)(photo))),
             ("style at full size", crop(styled))]]
    band = 16
    canvas = Image.new("RGB", (4 * cell, 2 * (size[1] + band)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(rows):
        for c, (label, image) in enumerate(row):
            x, y = c * cell, r * (size[1] + band)
            canvas.paste(Image.fromarray(np.ascontiguousarray(image)), (x, y + band))
            draw.text((x + 4, y + 2), label, fill="black")
    canvas.save(args.figure, quality=82)
    print(f"wrote {args.figure}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", default="hayao")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--no-tiles", action="store_true", help="leave out the --max-size 0 tiles run (minutes)")
    parser.add_argument("--sweep", action="store_true", help="guided upsampling: radius x eps")
    parser.add_argument("--blend", action="store_true", help="strength: blending spaces compared")
    parser.add_argument("--keep-colors", action="store_true", help="colour keeping: CIELAB against YCbCr")
    parser.add_argument("--figure", metavar="JPG", help="draw the README's pictures of each control")
    parser.add_argument("--photo", help="the photo of --figure")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.sweep:
        return sweep(args)
    if args.blend:
        return blend_table(args)
    if args.keep_colors:
        return keep_colors_table(args)
    if args.figure:
        if not args.photo:
            parser.error("--figure needs --photo")
        return figure(args)
    return main_table(args)


if __name__ == "__main__":
    main()
