"""Teacher targets for distillation: photos and a teacher's outputs on them, stored on disk.

Writing them runs the teacher (a TensorFlow `Cartoonizer`); reading them (`load_shards`,
`read_references`) needs only numpy, so a student can train on them under any Keras backend.

A data folder holds compressed `.npz` shards of uint8 RGB pairs, each written atomically,
and `recipe.json`, the arguments that made them: the shards are a deterministic function of
the recipe and the photo list, so a run resumes by skipping the shards present, and a folder
made with another recipe is refused rather than silently reused.
"""

import glob
import json
import math
import os

import numpy as np

from cartoongan.atomic import atomic_file
from cartoongan.images import list_images, read_image, resize, resize_to_max

SHARD_PATTERN = "shard_{:05d}.npz"
RECIPE_FILE = "recipe.json"


def list_photos(folders):
    """Every image file below `folders` (searched recursively), sorted for reproducibility."""
    return sorted(path for folder in folders for path in list_images(folder))


def random_crops(rgb, crop_size, count, rng, min_scale=1.0, max_scale=1.5):
    """`count` random crop_size^2 crops of `rgb` after a random downscale so that its short
    side is between min_scale and max_scale times crop_size (never upscaled)."""
    height, width = rgb.shape[:2]
    crops = []
    for _ in range(count):
        target_short = crop_size * rng.uniform(min_scale, max_scale)
        scale = min(1.0, target_short / min(height, width))
        h, w = max(crop_size, round(height * scale)), max(crop_size, round(width * scale))
        image = resize(rgb, (w, h))  # Lanczos, as every resampling in the project; rgb itself at its size
        top, left = rng.integers(0, h - crop_size + 1), rng.integers(0, w - crop_size + 1)
        crops.append(image[top : top + crop_size, left : left + crop_size])
    return crops


def downscale_to_long_side(rgb, long_side, min_short_side=0):
    """`rgb` downscaled like the CLI's --max-size, to a long side of `long_side`, or less
    far where the short side would drop below `min_short_side`; never upscaled."""
    long, short = max(rgb.shape[:2]), min(rgb.shape[:2])
    return resize_to_max(rgb, max(long_side, math.ceil(min_short_side * long / short)))[0]


def precompute_teacher_targets(teacher, photo_folders, out_dir, crop_size=192, crops_per_image=2, long_side=None,
                               shard_size=64, batch_size=8, precision="auto", seed=0, progress=print):
    """Writes `out_dir/shard_*.npz`: uint8 RGB photos and the teacher's outputs on them;
    returns the shard paths.

    Without `long_side`: `crops_per_image` random crop_size^2 crops per photo, stacked as
    `photos` and `targets` [N, S, S, 3]. With `long_side`: whole photos downscaled so their
    long side is `long_side` (short side at least `crop_size`), the teacher run on each whole
    photo (its instance norms see the whole photo), stored as `photo_<i>` / `target_<i>`.

    `teacher`: a style name, preset directory or `Cartoonizer`; it is loaded only if a shard
    is missing. `progress`: called with a line per shard written (None: quiet)."""
    if long_side is not None and not 0 < crop_size <= long_side:
        raise ValueError(f"the crop size ({crop_size}) must be positive and at most the long side ({long_side})")
    paths = list_photos(photo_folders)
    if not paths:
        raise ValueError(f"no photos found in {[str(folder) for folder in photo_folders]}")
    named = isinstance(teacher, (str, os.PathLike))
    recipe = {"teacher": str(teacher) if named else "Cartoonizer object",
              "precision": precision, "photos": len(paths), "seed": seed, "shard_size": shard_size,
              "crop_size": crop_size, "crops_per_image": None if long_side else crops_per_image, "long_side": long_side}
    _check_recipe(out_dir, recipe)
    order = np.random.default_rng(seed).permutation(len(paths))
    paths = [paths[i] for i in order]
    images_per_shard = shard_size if long_side else max(1, shard_size // crops_per_image)
    num_shards = (len(paths) + images_per_shard - 1) // images_per_shard
    cartoonizer = None if named else teacher
    for shard in range(num_shards):
        shard_path = os.path.join(out_dir, SHARD_PATTERN.format(shard))
        if os.path.exists(shard_path):
            continue
        if cartoonizer is None:
            cartoonizer = _load_teacher(teacher, precision)
        rng = np.random.default_rng([seed, shard])
        shard_paths = paths[shard * images_per_shard : (shard + 1) * images_per_shard]
        if long_side:
            photos = [downscale_to_long_side(read_image(path)[0], long_side, crop_size) for path in shard_paths]
            arrays = {f"photo_{i}": photo for i, photo in enumerate(photos)}
            arrays.update({f"target_{i}": cartoonizer(photo) for i, photo in enumerate(photos)})
        else:
            photos = np.stack([crop for path in shard_paths
                               for crop in random_crops(read_image(path)[0], crop_size, crops_per_image, rng)])
            targets = [cartoonizer.cartoonize_batch(list(photos[i : i + batch_size]))
                       for i in range(0, len(photos), batch_size)]
            arrays = {"photos": photos, "targets": np.concatenate([np.stack(t) for t in targets])}
        with atomic_file(shard_path, suffix=".npz") as partial:
            np.savez_compressed(partial, **arrays)
        if progress:
            progress(f"teacher targets: shard {shard + 1}/{num_shards}, {len(photos)} "
                     f"{'photos' if long_side else 'crops'}")
    return sorted(glob.glob(os.path.join(out_dir, "shard_*.npz")))


def _load_teacher(name_or_path, precision):
    """The teacher's Cartoonizer: a TensorFlow graph, so the TensorFlow backend is required."""
    import keras

    if keras.config.backend() != "tensorflow":
        raise RuntimeError(f"the teacher runs in TensorFlow's Cartoonizer, not under the {keras.config.backend()} "
                           "backend: make the teacher targets and references once with KERAS_BACKEND=tensorflow "
                           "(the student stage then reads them under any backend)")
    from cartoongan.inference import Cartoonizer

    return Cartoonizer.from_pretrained(name_or_path, precision)


def read_recipe(data_dir):
    """The recipe of a data folder (a dict), or None if it has none."""
    path = os.path.join(data_dir, RECIPE_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _check_recipe(out_dir, recipe):
    """Records `recipe` in a new data folder; raises ValueError if the folder was made another way."""
    existing = read_recipe(out_dir)
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
        raise ValueError(f"no teacher targets in {data_dir}: write them first (precompute_teacher_targets)")
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


def write_references(photo_paths, teacher, path, precision="float32", folder=None):
    """Writes `path` (.npz, atomically): the photos of `photo_paths`, whole, and the teacher's
    outputs on them (float32 by default: the reference an evaluation holds a student to),
    named by their paths relative to `folder` (default: the folder that holds them all), which
    is stored with them: `a/1.jpg` and `b/1.jpg` are two photos. Kept if `path` already holds
    the same names from the same folder, else rebuilt; returns `read_references(path)`."""
    if not photo_paths:
        raise ValueError("no held-out photos to compute teacher references for")
    folder = os.path.abspath(folder or os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in photo_paths]))
    names = [os.path.relpath(os.path.abspath(p), folder).replace(os.sep, "/") for p in photo_paths]
    if os.path.exists(path):
        with np.load(path, allow_pickle=False) as data:
            if "folder" in data and str(data["folder"]) == folder and list(data["names"]) == names:
                return read_references(path)
    photos = [read_image(p)[0] for p in photo_paths]
    cartoonizer = _load_teacher(teacher, precision) if isinstance(teacher, (str, os.PathLike)) else teacher
    arrays = {f"photo_{i}": p for i, p in enumerate(photos)}
    arrays.update({f"reference_{i}": cartoonizer(p) for i, p in enumerate(photos)})
    with atomic_file(path, suffix=".npz") as partial:
        np.savez_compressed(partial, names=np.array(names), folder=np.array(folder), **arrays)
    return read_references(path)


def read_references(path):
    """(names, photos, references) from a file written by `write_references`."""
    with np.load(path, allow_pickle=False) as data:
        names = [str(name) for name in data["names"]]
        return (names, [data[f"photo_{i}"] for i in range(len(names))],
                [data[f"reference_{i}"] for i in range(len(names))])
