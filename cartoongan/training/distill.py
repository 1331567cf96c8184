"""Distilling a pretrained style into a small, fast generator.

`distill(config)` runs the stages of a `DistillConfig`, each resumable:

1. teacher targets (`cartoongan.data.teacher_targets`): photos, or crops of them, and the
   teacher's outputs, written to `WORKDIR/data`; the held-out references to
   `WORKDIR/eval_teacher.npz`. Only this stage needs TensorFlow (the teacher's Cartoonizer).
2. `train_student`: an L1 regression of the student's output onto the targets, run by
   `keras.Model.fit` with Keras' own callbacks: `BackupAndRestore` (a killed run resumes at
   its last epoch, exactly; a backup torn by a kill falls back to the one before it),
   `CSVLogger` (`train/metrics.csv`), and a cosine learning-rate schedule object. Keras ops and numpy only, so it runs under every
   Keras backend (tested under JAX); the result is a preset that the TensorFlow
   `Cartoonizer` loads.
3. the final preset scored against the teacher (`cartoongan.evaluation`, numpy PSNR) and
   copied to `config.output`.
"""

import csv
import json
import math
import os
import shutil
import time

import h5py
import keras
import numpy as np
from keras import ops

from cartoongan.atomic import atomic_directory, atomic_file
from cartoongan.data import teacher_targets
from cartoongan.errors import ParameterError
from cartoongan.evaluation import edge_pad_to_multiple, evaluate, generator_cartoonizer
from cartoongan.presets import (
    check_preset_name,
    generator_preprocessing,
    load_preset,
    read_preset_config,
    resolve_preset,
    save_preset,
)
from cartoongan.training.distill_config import CONFIG_FILE, DistillConfig  # noqa: F401  (part of this API)
from cartoongan.training.student import build_student, init_from_generator

METRICS_FILE = "metrics.csv"
BACKUP_DIR = "backup"
PRESET_DIR = "preset"


def distill(config, log=print):
    """Runs every stage of `config` (a DistillConfig), skipping what is done; returns
    {"preset": path, "mean_psnr": float or None, "output": path or None}."""
    for field in ("teacher", "init_from"):
        if getattr(config, field) is not None:
            try:
                check_preset_name(getattr(config, field))
            except ValueError as error:
                raise ParameterError(field, "{name}: {problem}", problem=error) from error
    config_path = os.path.join(config.workdir, CONFIG_FILE)
    if os.path.exists(config_path):  # before any work: a workdir of another run is refused
        with open(config_path) as f:
            config.check_resumable_from(json.load(f))
    teacher_targets.precompute_teacher_targets(
        config.teacher, config.photos, config.data_dir, crop_size=config.crop_size,
        crops_per_image=config.crops_per_image, long_side=config.long_side, precision=config.teacher_precision,
        seed=config.seed, progress=log)
    if config.eval_photos:
        teacher_targets.write_references(teacher_targets.list_photos([config.eval_photos]), config.teacher,
                                         config.references_path, folder=config.eval_photos)
    with atomic_file(config_path, suffix=".json") as partial, open(partial, "w") as f:
        f.write(config.to_json())
    preset = train_student(config, log=log)
    mean_psnr = None
    if config.eval_photos:
        generator, preprocessing, _ = load_preset(preset)
        names, photos, references = teacher_targets.read_references(config.references_path)
        mean_psnr = evaluate(generator_cartoonizer(generator, preprocessing), photos, references, names)["mean_psnr"]
    if config.output:
        with atomic_directory(config.output) as partial:
            shutil.copytree(preset, partial, dirs_exist_ok=True)
    return {"preset": str(preset), "mean_psnr": mean_psnr, "output": config.output}


def random_batch(photos, targets, batch_size, crop_size, rng):
    """A random training batch of uint8 (photos, targets).

    With `crop_size`: `batch_size` random pairs, each cut to a random crop_size^2 window
    (the same window in photo and target). Without: whole pairs of one size (a random pair
    and up to `batch_size` - 1 others of its size), so the student sees exactly the picture
    the teacher saw (a crop of a whole-photo target asks the student for context and norm
    statistics it cannot see)."""
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
        if height == width == crop_size:  # precomputed crops: no draw
            top = left = 0
        else:
            top, left = rng.integers(0, height - crop_size + 1), rng.integers(0, width - crop_size + 1)
        window = (slice(top, top + crop_size), slice(left, left + crop_size))
        batch_photos.append(photo[window])
        batch_targets.append(target[window])
    return np.stack(batch_photos), np.stack(batch_targets)


def _to_unit(images):
    return np.asarray(images, np.float32) / 127.5 - 1.0


class TeacherPairs(keras.utils.PyDataset):
    """`epoch_steps` batches an epoch of (photos edge-padded to the student's stride, targets),
    float32 RGB in [-1, 1]; the student's output is cropped back to the target (`StudentLoss`),
    so any photo size trains as the Cartoonizer infers.

    Batch `i` of epoch `e` is drawn from the seed [seed, e * epoch_steps + i] alone, so a
    resumed run trains on the batches an uninterrupted one would; `epoch` is set by the
    training callback before each epoch. Before that (None), Keras only peeks at the first
    two batches to fix TensorFlow's input signature: for whole photos, two tiny batches that
    differ in every dimension keep it open to photos of any size, in batches of any count (so
    an epoch has at least two batches); for crops, batches of the one shape they have."""

    def __init__(self, photos, targets, batch_size, crop_size, epoch_steps, seed, size_multiple=4, min_size=1):
        super().__init__()
        self.photos, self.targets = photos, targets
        self.batch_size, self.crop_size, self.epoch_steps, self.seed = batch_size, crop_size, epoch_steps, seed
        self.size_multiple, self.min_size = size_multiple, min_size
        self.epoch = None

    def _pad(self, images):
        return edge_pad_to_multiple(images, self.size_multiple, self.min_size)

    def __len__(self):
        return self.epoch_steps

    def __getitem__(self, index):
        if self.epoch is None:
            if self.crop_size:
                count, height, width = self.batch_size, self.crop_size, self.crop_size
            else:
                # Padded, one is the smallest input on one axis and a stride more on the other.
                side = self._pad(np.zeros((1, 1, 1, 3), np.float32)).shape[1]
                count, height, width = (1, side - 1, side + 3) if index % 2 == 0 else (2, side + 2, side - 2)
            probe = np.zeros((count, height, width, 3), np.float32)
            return self._pad(probe), probe
        rng = np.random.default_rng([self.seed, self.epoch * self.epoch_steps + index])
        photos, targets = random_batch(self.photos, self.targets, self.batch_size, self.crop_size, rng)
        return self._pad(_to_unit(photos)), _to_unit(targets)


class StudentLoss(keras.losses.Loss):
    """L1 between the student's output, cropped to the target's size, and the target (both in
    [-1, 1]), plus `gradient_weight` times the L1 of the difference of their horizontal and
    vertical image gradients (keeps edges crisp)."""

    def __init__(self, gradient_weight=0.0, name="student_l1", **kwargs):
        super().__init__(name=name, **kwargs)
        self.gradient_weight = gradient_weight

    def call(self, y_true, y_pred):
        height, width = ops.shape(y_true)[1], ops.shape(y_true)[2]
        difference = y_pred[:, :height, :width] - y_true
        loss = ops.mean(ops.abs(difference), axis=(1, 2, 3))
        if self.gradient_weight:
            loss += self.gradient_weight * (
                ops.mean(ops.abs(difference[:, 1:] - difference[:, :-1]), axis=(1, 2, 3))
                + ops.mean(ops.abs(difference[:, :, 1:] - difference[:, :, :-1]), axis=(1, 2, 3)))
        return loss

    def get_config(self):
        return {**super().get_config(), "gradient_weight": self.gradient_weight}


def learning_rate_schedule(config):
    """Linear warm-up from 0 over `warmup_steps` (it keeps Adam's first steps, about the
    learning rate in every weight whatever the gradient, from scrambling a trained init), then
    cosine decay from `learning_rate` to `final_learning_rate` at `steps`."""
    warmup_steps = min(config.warmup_steps, config.steps - 1)
    alpha = config.final_learning_rate / config.learning_rate if config.learning_rate else 0.0
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup_steps else config.learning_rate, config.steps - warmup_steps, alpha=alpha,
        warmup_target=config.learning_rate if warmup_steps else None, warmup_steps=warmup_steps)


class _Progress(keras.callbacks.Callback):
    """Tells the data which epoch runs; adds the step, the learning rate and the held-out
    PSNR (NaN between evaluations) to each epoch's logs, for the callbacks after it; reports."""

    def __init__(self, data, config, schedule, evaluate_student, log):
        super().__init__()
        self.data, self.config, self.schedule, self.evaluate_student, self.log = data, config, schedule, evaluate_student, log
        self.first_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.data.epoch = epoch
        step = epoch * self.config.epoch_steps
        if self.first_epoch is None:
            self.first_epoch, self.started = epoch, time.time()
            done = int(ops.convert_to_numpy(self.model.optimizer.iterations))
            if done != step:
                raise RuntimeError(f"the backup in {os.path.join(self.config.train_dir, BACKUP_DIR)} holds the "
                                   f"optimizer after step {done} but records step {step} (a kill while it was "
                                   "written): delete that folder to train from the start")
            if step:
                self.log(f"resumed from the backup at step {step} of {self.config.steps}")

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * self.config.epoch_steps
        logs["step"] = step
        logs["learning_rate"] = float(ops.convert_to_numpy(self.schedule(step - 1)))
        due = self.evaluate_student is not None and (step % self.config.eval_every == 0 or step == self.config.steps)
        logs["val_psnr"] = self.evaluate_student() if due else math.nan
        rate = (epoch + 1 - self.first_epoch) * self.config.epoch_steps / (time.time() - self.started)
        self.log(json.dumps({"step": step, "loss": round(float(logs["loss"]), 5), "steps_per_s": round(rate, 3),
                             **({"val_psnr": round(logs["val_psnr"], 3)} if due else {})}))


class _MetricsLog(keras.callbacks.CSVLogger):
    """CSVLogger (appending) that opens the file at the first epoch a run trains, after
    dropping the rows of that epoch and later ones: a run killed after logging an epoch but
    before backing it up trains that epoch again, and its row appears once."""

    def __init__(self, filename):
        super().__init__(filename, append=True)
        self.opened = False

    def on_train_begin(self, logs=None):
        self.opened = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self.opened:
            _drop_rows_from(self.filename, epoch)
            super().on_train_begin()
            self.opened = True


def _drop_rows_from(path, epoch):
    if not os.path.exists(path):
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [row for row in rows[1:] if row and int(row[0]) < epoch]
    if kept != rows:
        with atomic_file(path, suffix=".csv") as partial, open(partial, "w", newline="") as f:
            csv.writer(f).writerows(kept)


def read_metrics(train_dir):
    """The rows of `train_dir/metrics.csv` as dicts of floats (NaN where not measured)."""
    with open(os.path.join(train_dir, METRICS_FILE), newline="") as f:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(f)]


def train_student(config, callbacks=(), log=print):
    """Trains the student of `config` on the teacher targets in `config.data_dir`; returns the
    path of the preset written to `config.train_dir/preset` (RGB in and out, float32).

    Resumes from the backup in `train_dir/backup` when there is one (a finished run resumes
    at its end; a longer `steps` continues it). `callbacks`: more Keras callbacks, run after
    the metrics are logged and before the backup is written."""
    photos, targets = teacher_targets.load_shards(config.data_dir)
    crop_size = None if config.long_side else config.crop_size
    log(f"{len(photos)} training pairs, " + (f"{crop_size}x{crop_size} crops" if crop_size else "whole"))
    dtype = "mixed_bfloat16" if config.train_precision == "bfloat16" else None
    student = build_student(config.generator, config.generator_config, config.seed, dtype)
    preprocessing = generator_preprocessing(student, "RGB")
    if config.init_from is not None:
        source, source_preprocessing, _ = load_preset(config.init_from)
        copied = init_from_generator(student, source, source_preprocessing.channel_order)
        log(f"initialised {copied} of {len(student.weights)} weights from {config.init_from}")
        del source
    # Before training: a teacher to fetch fails now, not after hours of it.
    metadata = preset_metadata(config, training_pairs=len(photos))
    schedule = learning_rate_schedule(config)
    student.compile(optimizer=keras.optimizers.Adam(schedule), loss=StudentLoss(config.gradient_weight),
                    jit_compile={"on": True, "off": False}.get(config.xla, "auto"))

    evaluate_student = None
    if config.eval_photos and os.path.exists(config.references_path):
        names, eval_photos, references = teacher_targets.read_references(config.references_path)
        cartoonize = generator_cartoonizer(student, preprocessing)
        evaluate_student = lambda: evaluate(cartoonize, eval_photos, references, names)["mean_psnr"]  # noqa: E731
    data = TeacherPairs(photos, targets, config.batch_size, crop_size, config.epoch_steps, config.seed,
                        preprocessing.size_multiple, preprocessing.min_size)
    os.makedirs(config.train_dir, exist_ok=True)
    restore_torn_backup(os.path.join(config.train_dir, BACKUP_DIR), config.epoch_steps, log)
    metrics = _MetricsLog(os.path.join(config.train_dir, METRICS_FILE))
    all_callbacks = [
        _Progress(data, config, schedule, evaluate_student, log),
        metrics,
        *callbacks,
        # Last, so that an epoch's backup follows everything the epoch logged and saved.
        keras.callbacks.BackupAndRestore(os.path.join(config.train_dir, BACKUP_DIR), double_checkpoint=True,
                                         delete_checkpoint=False),
    ]
    try:
        # shuffle=False: Keras would otherwise reorder an epoch's batches with Python's random
        # state, which a resumed process does not share; the batches are random draws already.
        student.fit(data, epochs=config.steps // config.epoch_steps, callbacks=all_callbacks, shuffle=False, verbose=0)
    finally:
        metrics.on_train_end()  # closes the file when fit stopped on an exception
    return save_preset(student, os.path.join(config.train_dir, PRESET_DIR), preprocessing, **metadata)


def restore_torn_backup(backup_dir, epoch_steps, log=print):
    """Keras' BackupAndRestore writes `latest.weights.h5`, then `training_metadata.json` (the
    epoch): a kill between the two leaves new weights with the old epoch, or a torn JSON, which
    Keras does not fall back from. Such a latest pair is replaced by the previous one (`.bkp`,
    double_checkpoint), each file atomically; raises RuntimeError if that one is unusable too."""
    latest = [os.path.join(backup_dir, name) for name in ("latest.weights.h5", "training_metadata.json")]
    if not any(os.path.exists(path) for path in latest) or _backup_step(*latest, epoch_steps) is not None:
        return
    previous = [f"{path}.bkp" for path in latest]
    step = _backup_step(*previous, epoch_steps)
    if step is None:
        raise RuntimeError(f"the training backup is unusable: {latest[1]} does not match or read as the epoch of "
                           f"{latest[0]}, and the same holds for {previous[1]} and {previous[0]}")
    for source, target in zip(previous, latest):
        with atomic_file(target, suffix=os.path.splitext(target)[1]) as partial:
            shutil.copyfile(source, partial)
    log(f"the last backup in {backup_dir} was torn by a kill: restored the one before it, at step {step}")


def _backup_step(weights_path, metadata_path, epoch_steps):
    """The step of a backup pair whose optimizer step matches its recorded epoch, else None."""
    try:
        with open(metadata_path) as f:
            epoch = json.load(f)["epoch"]
        with h5py.File(weights_path, "r") as f:
            done = int(f["optimizer/vars/0"][()])  # the optimizer's first variable: its iterations
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return done if done == epoch * epoch_steps else None


def preset_metadata(config, training_pairs):
    """The config.json fields of a student preset (presets.validate_preset_config's schema)."""
    teacher_license = read_preset_config(resolve_preset(config.teacher)).get("license") or "see the teacher preset"
    sizes = ", ".join(f"{key} {value}" for key, value in config.generator_config.items())
    return {
        "name": config.name,
        "description": f"a {config.generator} ({sizes}) distilled from {config.teacher} by cartoongan-distill",
        "license": f"derived from the {config.teacher} weights ({teacher_license}) and the training photos",
        "distilled_from": str(config.teacher),
        "init_from": None if config.init_from is None else str(config.init_from),
        "trained_steps": config.steps,
        "training": {
            "steps": config.steps, "batch_size": config.batch_size, "learning_rate": config.learning_rate,
            "final_learning_rate": config.final_learning_rate, "warmup_steps": config.warmup_steps,
            "gradient_weight": config.gradient_weight, "crop_size": None if config.long_side else config.crop_size,
            "long_side": config.long_side, "train_precision": config.train_precision, "seed": config.seed,
            "training_pairs": training_pairs, "teacher_data": teacher_targets.read_recipe(config.data_dir),
            "backend": keras.config.backend(),
        },
    }
