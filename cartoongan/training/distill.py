"""Distilling a pretrained style into a small, fast generator.

Three steps, each resumable and cheap enough for a laptop CPU:

1. `precompute_teacher_targets`: random square crops of photos, or whole downscaled photos,
   each run once through the teacher `Cartoonizer`; (photo, target) uint8 RGB pairs stored
   as compressed `.npz` shards.
2. `train_student`: the student generator (RGB in/out, [-1, 1]) learns to reproduce the
   targets, on whole pairs batched by size or on random crops of them, with an L1 pixel
   loss (optionally plus an L1 loss on image gradients), Adam, checkpointed so an
   interrupted run resumes where it stopped; the result is a preset.
3. `evaluate_against_teacher`: mean PSNR of the student's uint8 output against the
   teacher's (float32) uint8 output on held-out photos.
"""

import glob
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from cartoongan.atomic import atomic_file
from cartoongan.images import list_images, psnr  # noqa: F401  (psnr: part of this API)

SHARD_PATTERN = "shard_{:05d}.npz"
RECIPE_FILE = "recipe.json"  # how the shards of a data folder were made


def list_photos(folders):
    """Every image file below `folders` (searched recursively), sorted for reproducibility."""
    return sorted(path for folder in folders for path in list_images(folder))


def random_crops(rgb, crop_size, count, rng, min_scale=1.0, max_scale=1.5):
    """`count` random crop_size^2 crops of `rgb` after a random downscale so that its short
    side is between min_scale and max_scale times crop_size (never upscaled)."""
    from PIL import Image

    height, width = rgb.shape[:2]
    crops = []
    for _ in range(count):
        target_short = crop_size * rng.uniform(min_scale, max_scale)
        scale = min(1.0, target_short / min(height, width))
        h, w = max(crop_size, round(height * scale)), max(crop_size, round(width * scale))
        image = rgb if (h, w) == (height, width) else np.asarray(Image.fromarray(rgb).resize((w, h), Image.LANCZOS))
        top, left = rng.integers(0, h - crop_size + 1), rng.integers(0, w - crop_size + 1)
        crops.append(image[top : top + crop_size, left : left + crop_size])
    return crops


def downscale_to_long_side(rgb, long_side, min_short_side=0):
    """`rgb` downscaled like the CLI's --max-size, to a long side of `long_side`, or less
    far where the short side would drop below `min_short_side`; never upscaled."""
    from cartoongan.images import resize_to_max

    long, short = max(rgb.shape[:2]), min(rgb.shape[:2])
    return resize_to_max(rgb, max(long_side, math.ceil(min_short_side * long / short)))[0]


def precompute_teacher_targets(teacher, photo_folders, out_dir, crop_size=192, crops_per_image=2, long_side=None,
                               shard_size=64, batch_size=8, precision="auto", seed=0, progress=True):
    """Writes `out_dir/shard_*.npz`: uint8 RGB photos and the teacher's outputs on them.

    Without `long_side`: `crops_per_image` random crop_size^2 crops per photo, stacked as
    `photos` and `targets` [N, S, S, 3]. With `long_side`: whole photos downscaled so their
    long side is `long_side` (short side at least `crop_size`), the teacher run on each whole
    photo, stored as `photo_<i>` / `target_<i>`: what evaluation on whole photos compares
    (the teacher's instance norms see the whole photo); train on them whole (`random_batch`).

    `teacher`: a style name, preset directory or `Cartoonizer`. Shards already present are
    kept (a run resumes); the content is a deterministic function of the arguments and the
    photo list, recorded in `out_dir/recipe.json`: a folder made another way is refused
    rather than silently reused."""
    from cartoongan.images import read_image
    from cartoongan.inference import Cartoonizer

    if long_side is not None and not 0 < crop_size <= long_side:
        raise ValueError(f"the crop size ({crop_size}) must be positive and at most the long side ({long_side})")
    paths = list_photos(photo_folders)
    if not paths:
        raise ValueError(f"no photos found in {photo_folders}")
    recipe = {"teacher": "Cartoonizer object" if isinstance(teacher, Cartoonizer) else str(teacher),
              "precision": precision, "photos": len(paths), "seed": seed, "shard_size": shard_size,
              "crop_size": crop_size, "crops_per_image": None if long_side else crops_per_image, "long_side": long_side}
    _check_recipe(out_dir, recipe)
    order = np.random.default_rng(seed).permutation(len(paths))
    paths = [paths[i] for i in order]
    images_per_shard = shard_size if long_side else max(1, shard_size // crops_per_image)
    num_shards = (len(paths) + images_per_shard - 1) // images_per_shard
    cartoonizer = None
    for shard in range(num_shards):
        shard_path = os.path.join(out_dir, SHARD_PATTERN.format(shard))
        if os.path.exists(shard_path):
            continue
        if cartoonizer is None:
            cartoonizer = teacher if isinstance(teacher, Cartoonizer) else Cartoonizer.from_pretrained(teacher, precision)
        rng = np.random.default_rng([seed, shard])
        shard_paths = paths[shard * images_per_shard : (shard + 1) * images_per_shard]
        if long_side:
            photos = [downscale_to_long_side(read_image(path)[0], long_side, crop_size) for path in shard_paths]
            arrays = {f"photo_{i}": photo for i, photo in enumerate(photos)}
            arrays.update({f"target_{i}": cartoonizer(photo) for i, photo in enumerate(photos)})
        else:
            photos = np.stack([crop for path in shard_paths
                               for crop in random_crops(read_image(path)[0], crop_size, crops_per_image, rng)])
            targets = np.concatenate([
                cartoonizer._fn(photos[i : i + batch_size]).numpy() for i in range(0, len(photos), batch_size)
            ])
            arrays = {"photos": photos, "targets": targets}
        with atomic_file(shard_path, suffix=".npz") as partial:
            np.savez_compressed(partial, **arrays)
        if progress:
            print(f"shard {shard + 1}/{num_shards}: {len(photos)} {'photos' if long_side else 'crops'}", flush=True)
    return sorted(glob.glob(os.path.join(out_dir, "shard_*.npz")))


def _read_recipe(data_dir):
    path = os.path.join(data_dir, RECIPE_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _check_recipe(out_dir, recipe):
    """Records `recipe` in a new data folder; raises ValueError if the folder was made another way."""
    existing = _read_recipe(out_dir)
    if existing is not None:
        if existing != recipe:
            changed = ", ".join(f"{key}: {existing.get(key)!r} -> {recipe.get(key)!r}"
                                for key in sorted(set(existing) | set(recipe)) if existing.get(key) != recipe.get(key))
            raise ValueError(f"{out_dir} holds teacher targets made another way ({changed}): use another folder")
        return
    if glob.glob(os.path.join(out_dir, "shard_*.npz")):
        raise ValueError(f"{out_dir} holds shards without {RECIPE_FILE}: their recipe is unknown; use another folder")
    with atomic_file(os.path.join(out_dir, RECIPE_FILE), suffix=".json") as partial, open(partial, "w") as f:
        json.dump(recipe, f, indent=2)


def load_shards(data_dir):
    """(photos, targets): lists of uint8 RGB arrays (a pair has one size; pairs may differ)
    from every shard in `data_dir`, whichever way `precompute_teacher_targets` wrote them."""
    shards = sorted(glob.glob(os.path.join(data_dir, "shard_*.npz")))
    if not shards:
        raise ValueError(f"no shards in {data_dir}: run precompute_teacher_targets first")
    photos, targets = [], []
    for path in shards:
        with np.load(path) as data:
            if "photos" in data:
                photos += list(data["photos"])
                targets += list(data["targets"])
            else:
                count = sum(name.startswith("photo_") for name in data.files)
                photos += [data[f"photo_{i}"] for i in range(count)]
                targets += [data[f"target_{i}"] for i in range(count)]
    return photos, targets


def random_batch(photos, targets, batch_size, crop_size, rng):
    """A random training batch of uint8 (photos, targets).

    With `crop_size`: `batch_size` random pairs, each cut to a random crop_size^2 window
    (the same window in photo and target). Without: whole pairs of one size (a random pair
    and up to `batch_size` - 1 others of its size), so the student sees exactly the picture the teacher saw (a crop of
    a whole-photo target asks the student for context and norm statistics it cannot see)."""
    if crop_size is None:
        first = rng.integers(0, len(photos))
        same_size = [i for i, photo in enumerate(photos) if photo.shape == photos[first].shape and i != first]
        others = rng.choice(same_size, min(batch_size - 1, len(same_size)), replace=False) if same_size else []
        indices = [first, *others]
        return np.stack([photos[i] for i in indices]), np.stack([targets[i] for i in indices])
    batch_photos, batch_targets = [], []
    for index in rng.integers(0, len(photos), batch_size):
        photo, target = photos[index], targets[index]
        height, width = photo.shape[:2]
        if min(height, width) < crop_size:
            raise ValueError(f"a training photo of {width}x{height} is smaller than the {crop_size}px crop")
        if height == width == crop_size:  # precomputed crops: no draw, so their runs replay as before
            top = left = 0
        else:
            top, left = rng.integers(0, height - crop_size + 1), rng.integers(0, width - crop_size + 1)
        window = (slice(top, top + crop_size), slice(left, left + crop_size))
        batch_photos.append(photo[window])
        batch_targets.append(target[window])
    return np.stack(batch_photos), np.stack(batch_targets)


def init_from_generator(student, source, source_channel_order="BGR"):
    """Copies every student weight from the `source` layer of the same name, sliced to the
    student's shape (the first channels of each axis): a shrunk CartoonGAN then starts from
    the teacher's own filters instead of noise, and a student can continue from an earlier,
    smaller student. Channel orders are reconciled (a BGR source's stem input and head output
    channels are reversed for an RGB student). Residual blocks the source lacks start as the
    identity (their last norm's scale and offset zeroed), so a deepened student starts out
    computing exactly what its source computed. Returns the number of weights copied."""
    if type(source) is not type(student):
        raise ValueError(f"cannot initialise a {type(student).__name__} from a {type(source).__name__}")
    source_layers = {layer.name: layer for layer in source.layers}
    copied = 0
    for layer in student.layers:
        origin = source_layers.get(layer.name)
        if origin is None and layer.name.startswith("res") and layer.name.endswith("_norm2"):
            for weight in layer.weights:
                weight.assign(np.zeros(weight.shape, np.float32))
        if origin is None or not layer.weights or len(origin.weights) != len(layer.weights):
            continue
        for target_weight, source_weight in zip(layer.weights, origin.weights):
            value = np.asarray(source_weight.numpy(), np.float32)
            if source_channel_order == "BGR" and layer.name == "stem_conv" and value.ndim == 4:
                value = value[:, :, ::-1, :]
            if source_channel_order == "BGR" and layer.name == "head_conv":
                value = value[..., ::-1]
            value = value[tuple(slice(0, n) for n in target_weight.shape)]
            if value.shape != tuple(target_weight.shape):
                break
            target_weight.assign(value)
            copied += 1
    return copied


def _to_unit(images):
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 127.5 - 1.0


def make_loss_fn(gradient_weight=0.0):
    """L1 between student output and target in [-1, 1], plus `gradient_weight` times the L1
    of the difference of their horizontal and vertical image gradients (keeps edges crisp)."""
    import tensorflow as tf

    def loss_fn(outputs, targets):
        loss = tf.reduce_mean(tf.abs(outputs - targets))
        if gradient_weight:
            d = outputs - targets
            loss += gradient_weight * (
                tf.reduce_mean(tf.abs(d[:, 1:] - d[:, :-1])) + tf.reduce_mean(tf.abs(d[:, :, 1:] - d[:, :, :-1]))
            )
        return loss

    return loss_fn


def build_student(generator_class="CartoonGanGenerator", generator_config=None, seed=0, dtype=None):
    """`dtype`: the convolutions' dtype policy while training (e.g. "mixed_bfloat16"); the
    weights stay float32 and the preset does not record it."""
    import keras

    from cartoongan.models import build_generator

    keras.utils.set_random_seed(seed)
    return build_generator(generator_class, dict(generator_config or {}), dtype=dtype)


def make_train_step(student, optimizer, loss_fn, jit_compile=False, size_multiple=4):
    """One Adam step on a uint8 batch. Photos are edge-padded to the student's stride and
    its output cropped back, as `Cartoonizer` does, so any photo size trains as it infers."""
    import tensorflow as tf

    from cartoongan.inference import edge_pad_to_multiple

    variables = student.trainable_variables

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def train_step(photos, targets):
        x, y = _to_unit(photos), _to_unit(targets)
        height, width = tf.shape(x)[1], tf.shape(x)[2]
        with tf.GradientTape() as tape:
            outputs = student(edge_pad_to_multiple(x, size_multiple), training=True)[:, :height, :width]
            loss = loss_fn(tf.cast(outputs, tf.float32), y)
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    return train_step


def train_student(data_dir, out_dir, generator_class="CartoonGanGenerator", generator_config=None,
                  steps=1000, batch_size=8, crop_size=None, learning_rate=2e-4, final_learning_rate=None,
                  warmup_steps=0, gradient_weight=0.0, init_from=None, eval_photos=None, eval_every=500,
                  checkpoint_every_s=180, jit_compile=False, dtype=None, seed=0, preset_name="student",
                  preset_metadata=None, log=print):
    """Trains the student on the shards of `data_dir`; returns the path of the preset written
    to `out_dir/preset` (RGB in/out). Resumes from `out_dir/ckpt` when present.

    `crop_size`: the side of the random training crops (None: whole pairs, see `random_batch`).
    `init_from`: a style name or preset whose weights initialise a CartoonGanGenerator student
    (`init_from_generator`: the teacher, or an earlier student; None: random init).
    `eval_photos`: (photos, teacher uint8 outputs) evaluated every `eval_every` steps.
    `dtype`: the convolutions' policy while training (None: float32; "mixed_bfloat16" is
    about twice as fast on CPUs with AVX512-BF16). The learning rate decays from `learning_rate` to
    `final_learning_rate` (default: a tenth of it) with a cosine schedule, after a linear
    warm-up from 0 over `warmup_steps`.
    Metrics go to `out_dir/metrics.jsonl`."""
    import keras
    import tensorflow as tf

    from cartoongan.presets import Preprocessing, load_preset, save_preset

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    photos, targets = load_shards(data_dir)
    log(f"{len(photos)} training pairs, " + (f"{crop_size}x{crop_size} crops" if crop_size else "whole"))
    generator_config = dict(generator_config or {})
    student = build_student(generator_class, generator_config, seed, dtype)
    if init_from is not None:
        source, source_preprocessing, _ = load_preset(init_from)
        copied = init_from_generator(student, source, source_preprocessing.channel_order)
        log(f"initialised {copied} of {len(student.weights)} weights from {init_from}")
        del source

    final_learning_rate = learning_rate / 10 if final_learning_rate is None else final_learning_rate
    # A warm-up keeps Adam's first steps (about the learning rate in every weight, whatever
    # the gradient) from scrambling a trained init.
    warmup_steps = min(warmup_steps, steps - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup_steps else learning_rate, steps - warmup_steps, alpha=final_learning_rate / learning_rate,
        warmup_target=learning_rate if warmup_steps else None, warmup_steps=warmup_steps)
    optimizer = keras.optimizers.Adam(schedule)
    optimizer.build(student.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    checkpoint = tf.train.Checkpoint(step=step, variables=list(student.weights), optimizer_variables=list(optimizer.variables))
    manager = tf.train.CheckpointManager(checkpoint, str(out_dir / "ckpt"), max_to_keep=2)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        log(f"resumed from {manager.latest_checkpoint} at step {int(step)}"
            + (f" (its weights replace the init from {init_from})" if init_from is not None else ""))

    train_step = make_train_step(student, optimizer, make_loss_fn(gradient_weight), jit_compile)
    evaluate = make_generator_evaluator(student, *eval_photos) if eval_photos is not None else None
    rng = np.random.default_rng([seed, int(step)])
    metrics = open(out_dir / "metrics.jsonl", "a")
    last_save, started, losses = time.time(), time.time(), []
    start_step = int(step)
    while int(step) < steps:
        batch_photos, batch_targets = random_batch(photos, targets, batch_size, crop_size, rng)
        loss = float(train_step(tf.constant(batch_photos), tf.constant(batch_targets)))
        step.assign_add(1)
        losses.append(loss)
        current = int(step)
        record = None
        if current % 50 == 0 or current == steps:
            rate = (current - start_step) / (time.time() - started)
            record = {"step": current, "loss": float(np.mean(losses)), "steps_per_s": round(rate, 3)}
            losses = []
        if evaluate is not None and (current % eval_every == 0 or current == steps):
            record = {**(record or {"step": current}), "eval_psnr": evaluate()}
        if record:
            metrics.write(json.dumps(record) + "\n")
            metrics.flush()
            log(json.dumps(record))
        if time.time() - last_save > checkpoint_every_s or current == steps:
            manager.save(checkpoint_number=current)
            last_save = time.time()
    metrics.close()
    return save_preset(student, out_dir / "preset", Preprocessing("RGB"), name=preset_name,
                       training={"steps": steps, "batch_size": batch_size, "learning_rate": learning_rate,
                                 "warmup_steps": warmup_steps, "init_from": None if init_from is None else str(init_from),
                                 "gradient_weight": gradient_weight, "crop_size": crop_size,
                                 "training_pairs": len(photos), "teacher_data": _read_recipe(data_dir)},
                       **(preset_metadata or {}))


def make_generator_evaluator(generator, photos, references, preprocessing=None):
    """A function () -> mean PSNR of a raw generator's uint8 output (through the Cartoonizer
    contract) against `references` (uint8, same sizes as `photos`); traced once, so calling
    it every few hundred training steps costs no new tracing."""
    import tensorflow as tf

    from cartoongan.inference import uint8_cartoonize_fn
    from cartoongan.presets import Preprocessing

    fn = tf.function(uint8_cartoonize_fn(generator, preprocessing or Preprocessing("RGB")), reduce_retracing=True)
    return lambda: float(np.mean([psnr(fn(p[None]).numpy()[0], r) for p, r in zip(photos, references)]))


def teacher_references(photo_paths, teacher="hayao", cache=None):
    """(photos, teacher float32 uint8 outputs) for `photo_paths`; cached in `cache` (.npz)."""
    from cartoongan.images import read_image
    from cartoongan.inference import Cartoonizer

    names = [os.path.basename(p) for p in photo_paths]
    if cache and os.path.exists(cache):
        with np.load(cache, allow_pickle=False) as data:
            if list(data["names"]) == names:
                return list(data[f"photo_{i}"] for i in range(len(names))), list(
                    data[f"reference_{i}"] for i in range(len(names)))
    photos = [read_image(p)[0] for p in photo_paths]
    cartoonizer = Cartoonizer.from_pretrained(teacher, precision="float32")
    references = [cartoonizer(p) for p in photos]
    if cache:
        arrays = {f"photo_{i}": p for i, p in enumerate(photos)}
        arrays.update({f"reference_{i}": r for i, r in enumerate(references)})
        with atomic_file(cache, suffix=".npz") as partial:
            np.savez_compressed(partial, names=np.array(names), **arrays)
    return photos, references


def evaluate_against_teacher(student, photo_folder, teacher="hayao", precision="auto", cache=None):
    """{"mean_psnr", "per_photo"} of the student's Cartoonizer output (`precision`) against
    the teacher's float32 output on every photo of `photo_folder`."""
    from cartoongan.inference import Cartoonizer

    paths = list_photos([photo_folder])
    photos, references = teacher_references(paths, teacher, cache)
    cartoonizer = student if isinstance(student, Cartoonizer) else Cartoonizer.from_pretrained(student, precision)
    per_photo = {os.path.basename(p): psnr(cartoonizer(x), r) for p, x, r in zip(paths, photos, references)}
    return {"mean_psnr": float(np.mean(list(per_photo.values()))), "per_photo": per_photo}


def compare_speed(student, teacher="hayao", size=512, runs=7, precision="auto", image=None):
    """Median seconds of one `size`x`size` image through each Cartoonizer (both loaded in this
    process, two warm-up calls each, then `runs` alternating timed calls) and their ratio."""
    from cartoongan.inference import Cartoonizer

    if image is None:
        image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    models = {"teacher": Cartoonizer.from_pretrained(teacher, precision),
              "student": Cartoonizer.from_pretrained(student, precision)}
    for model in models.values():
        model(image)
        model(image)
    times = {name: [] for name in models}
    for _ in range(runs):
        for name, model in models.items():
            started = time.perf_counter()
            model(image)
            times[name].append(time.perf_counter() - started)
    median = {name: float(np.median(t)) for name, t in times.items()}
    return {"teacher_s": median["teacher"], "student_s": median["student"],
            "speedup": median["teacher"] / median["student"], "precision": models["student"].precision}
