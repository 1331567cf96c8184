"""Does the GAN loop learn a style? A toy unpaired domain with a known, measurable target.

    python benchmarks/learning.py [--style toy|sepia] [--steps 1000] [--every 100] [--init-from hayao_lite]
                                  [--vgg-weights random] [--image-size 64] [--batch-size 4]
                                  [--count 200] [--eval 24] [--strip benchmarks/learning_strip.png]
                                  [--set KEY=VALUE ...]

The target style ("toy anime") is a rendering anyone can compute: a 5x5 median filter,
posterization to 4 levels a channel (the centres 32, 96, 160, 224 of four equal bins) and
dark Canny outlines drawn in the darkest level. It is unpaired like the real task: the
photos the generator is trained on and the photos rendered as its anime set are disjoint
ADE20K scenes from ../shared, and the score is taken on a third, held-out set.

- palette distance: mean over pixels and channels of |value - nearest of the 4 levels|
  (0 for the target images, about 16 for photos). Style: lower is more toy-anime.
- PSNR to the toy rendering of each input: content and style together.
- checkerboard response: mean |2x2 alternating kernel [[1, -1], [-1, 1]]| over the output,
  which flat regions and straight horizontal/vertical edges do not excite; a growing
  checkerboard from the transposed convolutions shows here first.

`--style sepia` swaps the target for sepia toning (a global colour style; score: mean distance
of the pixels from the sepia colour axis, 0..255 units). The strip PNG has four rows: held-out
inputs, the starting generator's outputs, the outputs after training, target examples.

The data goes through the real tools (build_tfrecords at --image-size 96) and the real
`Trainer` with a config resolved like `tools/train.py`'s (its defaults for everything not
given), so what is measured is what a user gets. The curve prints the scores by step and
their ratio or difference to the start.
"""

import argparse
import glob
import json
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

LEVELS = np.array([32, 96, 160, 224], np.float32)
# CARTOONGAN_SHARED may name the folder; CI sets it to 1 (meaning "required"), as the tests read it.
_CONFIGURED = os.environ.get("CARTOONGAN_SHARED", "")
SHARED = _CONFIGURED if os.path.isdir(_CONFIGURED) else os.path.join(ROOT, "..", "shared")
PHOTO_DIR = os.path.join(SHARED, "data", "photos", "train", "ade20k")
DATA_SIZE = 96  # build_tfrecords --image-size of the toy domain
EVAL_SIZE = 96  # held-out photos: short side 96, centre square


# === The toy domain ===

def posterize(rgb):
    """uint8 RGB -> each channel set to the centre of its quarter of [0, 256)."""
    return LEVELS[np.asarray(rgb) // 64].astype(np.uint8)


def toy_anime(rgb):
    """uint8 RGB HxWx3 -> the toy anime rendering: median 5x5, 4 levels, dark outlines."""
    import cv2

    smooth = cv2.medianBlur(np.ascontiguousarray(rgb, np.uint8), 5)
    out = posterize(smooth)
    edges = cv2.Canny(cv2.cvtColor(smooth, cv2.COLOR_RGB2GRAY), 100, 200) > 0
    out[edges] = int(LEVELS[0])
    return out


# A second toy style, global and colour-only: sepia toning (the classic matrix).
SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], np.float32)
_SEPIA_AXIS = SEPIA.sum(1) / np.linalg.norm(SEPIA.sum(1))


def sepia(rgb):
    """uint8 RGB -> sepia-toned uint8 RGB: every pixel on one colour axis."""
    return np.clip(np.asarray(rgb, np.float32) @ SEPIA.T, 0, 255).round().astype(np.uint8)


def sepia_distance(rgb):
    """Mean distance (0..255 units) of the pixels from the sepia colour axis: about 0 for
    sepia images (a little where they clip), 20-30 for photos."""
    x = np.asarray(rgb, np.float32).reshape(-1, 3)
    return float(np.linalg.norm(x - np.outer(x @ _SEPIA_AXIS, _SEPIA_AXIS), axis=1).mean())


STYLES = {"toy": toy_anime, "sepia": sepia}


def palette_distance(rgb):
    """Mean over pixels and channels of the distance to the nearest toy level (0..32)."""
    x = np.asarray(rgb, np.float32)
    return float(np.abs(x[..., None] - LEVELS).min(-1).mean())


def checkerboard_response(rgb):
    """Mean |[[1, -1], [-1, 1]] * image| (valid 2x2 windows, every channel): the response
    to a pixel-period checkerboard; zero on flat regions and straight axis-aligned edges."""
    x = np.asarray(rgb, np.float32)
    return float(np.abs(x[:-1, :-1] - x[:-1, 1:] - x[1:, :-1] + x[1:, 1:]).mean())


def psnr(a, b):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def load_photo(path, short_side):
    """A photo shrunk (Lanczos) so that its short side is `short_side`, uint8 RGB."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        scale = short_side / min(image.size)
        size = (max(short_side, round(image.width * scale)), max(short_side, round(image.height * scale)))
        return np.asarray(image.resize(size, Image.LANCZOS))


def centre_square(rgb):
    h, w = rgb.shape[:2]
    s = min(h, w)
    return rgb[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]


def split_photos(count, eval_count, photo_dir=PHOTO_DIR):
    """Three disjoint sets of ADE20K paths: training photos, photos rendered as the anime
    set, held-out evaluation photos (every third file to each, in name order)."""
    files = sorted(glob.glob(os.path.join(photo_dir, "*.jpg")))
    if len(files) < 2 * count + eval_count:
        raise SystemExit(f"{photo_dir}: {len(files)} photos, need {2 * count + eval_count}")
    photos, anime = files[0:2 * count:2], files[1:2 * count:2]
    held_out = files[2 * count:2 * count + eval_count]
    return photos, anime, held_out


def build_domain(root, count=200, eval_count=24, data_size=DATA_SIZE, style="toy"):
    """Writes root/photos (copies), root/anime (toy renderings), root/records (TFRecords
    through the real build_tfrecords); -> (records dir, held-out uint8 photos)."""
    from PIL import Image

    from cartoongan.cli.build_tfrecords import main as build_main

    photos, anime, held_out = split_photos(count, eval_count)
    for name, paths in (("photos", photos), ("anime", anime)):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for path in paths:
            image = load_photo(path, data_size)
            if name == "anime":
                image = STYLES[style](image)
            Image.fromarray(image).save(os.path.join(root, name, os.path.basename(path)[:-4] + ".png"))
    records = os.path.join(root, "records")
    if not os.path.exists(os.path.join(records, "dataset.json")):
        code = build_main(["--photos", os.path.join(root, "photos"), "--anime", os.path.join(root, "anime"),
                           "--output", records, "--image-size", str(data_size), "--workers", "2"])
        if code != 0:
            raise SystemExit(f"build_tfrecords failed with status {code}")
    evaluation = [centre_square(load_photo(path, EVAL_SIZE)) for path in held_out]
    return records, evaluation


# === Scoring ===

def score(cartoonize_batch, photos, render=toy_anime):
    """-> dict of the mean scores of the outputs on `photos` (uint8 RGB, one size);
    `psnr_toy` is against `render(photo)`, the target style's rendering of each input."""
    outputs = cartoonize_batch(photos)
    return {
        "palette": float(np.mean([palette_distance(o) for o in outputs])),
        "psnr_toy": float(np.mean([psnr(o, render(p)) for o, p in zip(outputs, photos)])),
        "checker": float(np.mean([checkerboard_response(o) for o in outputs])),
        "sepia": float(np.mean([sepia_distance(o) for o in outputs])),
    }, outputs


def trainer_cartoonizer(trainer):
    """uint8 RGB batch -> uint8 RGB batch through the trainer's generator as it is now."""
    import tensorflow as tf

    def run(photos):
        x = tf.constant(np.stack(photos), tf.float32) / 127.5 - 1.0
        x = trainer._to_generator_convention(x)
        y = tf.cast(trainer.generator(x, training=False), tf.float32)
        y = trainer._to_generator_convention(y)
        return list(np.clip(np.round((y.numpy() + 1.0) * 127.5), 0, 255).astype(np.uint8))

    return run


def parse_value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def train_and_score(records, workdir, evaluation, steps, every, options, log=print, render=toy_anime):
    """Trains with the real Trainer in chunks of `every` steps and scores the held-out
    photos at the start and after each chunk; -> (curve, outputs at start, outputs at end)."""
    from cartoongan.training.config import TrainConfig
    from cartoongan.training.trainer import Trainer

    config = TrainConfig(data=records, workdir=workdir, steps=0, **options)
    trainer = Trainer(config)
    cartoonize = trainer_cartoonizer(trainer)
    start_scores, start_outputs = score(cartoonize, evaluation, render)
    curve = [dict(step=0, seconds=0.0, **start_scores)]
    log(_row(curve[0], curve[0]))
    began = time.perf_counter()
    outputs = start_outputs
    for target in range(every, steps + 1, every):
        config.steps = target
        trainer.fit(progress=False)
        scores, outputs = score(cartoonize, evaluation, render)
        curve.append(dict(step=target, seconds=time.perf_counter() - began, **scores,
                          **_chunk_means(workdir, target - every, target)))
        log(_row(curve[-1], curve[0]))
    return curve, start_outputs, outputs


def _chunk_means(workdir, after, upto):
    """Means of the logged losses and discriminator outputs over steps (after, upto]."""
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        lines = [line for line in map(json.loads, f) if after < line["step"] <= upto]
    keys = [k for k in ("d_real", "d_fake", "d_smooth", "adversarial_loss", "content_loss", "palette_loss") if lines and k in lines[0]]
    return {k: float(np.mean([line[k] for line in lines])) for k in keys}


def _row(point, start):
    d = "".join(f"  {k} {point[k]:.3g}" for k in ("d_real", "d_fake", "d_smooth", "content_loss", "palette_loss") if k in point)
    return (f"{point['step']:6d} {point['seconds']:8.0f} s   palette {point['palette']:6.2f} "
            f"({point['palette'] - start['palette']:+6.2f})   PSNR to target {point['psnr_toy']:6.2f} dB "
            f"({point['psnr_toy'] - start['psnr_toy']:+5.2f})   checkerboard {point['checker']:6.2f} "
            f"({point['checker'] / max(start['checker'], 1e-9):5.2f}x)   sepia {point['sepia']:5.1f} "
            f"({point['sepia'] - start['sepia']:+5.1f})" + d)


def save_strip(path, photos, start, end, targets, columns=4):
    """A PNG: rows input / start / after training / target examples (other images)."""
    from PIL import Image

    rows = [np.concatenate(list(images[:columns]), axis=1) for images in (photos, start, end, targets)]
    Image.fromarray(np.concatenate(rows, axis=0)).save(path, optimize=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--style", choices=sorted(STYLES), default="toy",
                        help="the anime set: toy (posterized, outlined) or sepia (colour only)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--every", type=int, default=100, help="score every N steps")
    parser.add_argument("--init-from", default="hayao_lite", help="'' trains from scratch")
    parser.add_argument("--init-steps", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--vgg-weights", default="random")
    parser.add_argument("--count", type=int, default=200, help="training photos, and as many anime images")
    parser.add_argument("--eval", type=int, default=24, help="held-out photos scored")
    parser.add_argument("--data", help="where the toy domain is built (default: a temp dir)")
    parser.add_argument("--strip", help="write the picture strip PNG here")
    parser.add_argument("--json", help="write the curve as JSON here")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="other TrainConfig fields, e.g. generator_lr=1e-4 generator_config='{\"filters\": 16}'")
    args = parser.parse_args(argv)

    root = args.data or tempfile.mkdtemp(prefix="cartoongan-learning-")
    records, evaluation = build_domain(root, args.count, args.eval, style=args.style)
    options = dict(init_from=args.init_from or None, init_steps=args.init_steps, image_size=args.image_size,
                   batch_size=args.batch_size, vgg_weights=args.vgg_weights)
    for item in args.set:
        key, _, value = item.partition("=")
        options[key] = parse_value(value)
    workdir = tempfile.mkdtemp(prefix="run-", dir=root)
    render = STYLES[args.style]
    print(f"{args.style} domain in {root}; held-out photos: palette distance "
          f"{np.mean([palette_distance(p) for p in evaluation]):.2f}, sepia distance "
          f"{np.mean([sepia_distance(p) for p in evaluation]):.1f}; their {args.style} renderings: "
          f"{np.mean([palette_distance(render(p)) for p in evaluation]):.2f} and "
          f"{np.mean([sepia_distance(render(p)) for p in evaluation]):.1f}; options {json.dumps(options)}", flush=True)
    print("  step  elapsed   scores on the held-out photos (change from the start)", flush=True)
    curve, start, end = train_and_score(records, workdir, evaluation, args.steps, args.every, options,
                                        log=lambda line: print(line, flush=True), render=STYLES[args.style])
    first, last = curve[0], curve[-1]
    print(f"after {last['step']} steps: palette distance {first['palette']:.2f} -> {last['palette']:.2f} "
          f"({last['palette'] - first['palette']:+.2f}), checkerboard x{last['checker'] / first['checker']:.2f}, "
          f"PSNR to the target rendering {first['psnr_toy']:.2f} -> {last['psnr_toy']:.2f} dB, sepia distance "
          f"{first['sepia']:.1f} -> {last['sepia']:.1f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"options": options, "curve": curve}, f, indent=1)
    if args.strip:
        from PIL import Image

        targets = [np.asarray(Image.open(p))[:EVAL_SIZE, :EVAL_SIZE] for p in sorted(glob.glob(os.path.join(root, "anime", "*.png")))[:4]]
        save_strip(args.strip, evaluation, start, end, targets)
    return curve


if __name__ == "__main__":
    main()
