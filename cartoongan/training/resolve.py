"""A run's TrainConfig from the options a user gave, checked against the files they name
before any model is built: the data folder, a VGG19 weights file, the preset a fine-tune
starts from (whose architecture the run takes) and the run already in the workdir; and
`remove_unused_workdir`, the cleanup of a run that failed before it saved anything."""

import json
import os
import re
import shutil

from cartoongan.errors import ParameterError
from cartoongan.training.config import GENERATOR_CLASSES, TrainConfig, canonical_generator, has_photo_path


def resolve_config(data, workdir, generator=None, **options):
    """-> TrainConfig. `generator` None: the architecture of the `init_from` preset, or
    "cartoongan" from scratch; given with `init_from`, it must be the preset's. Loads TensorFlow.

    Raises ParameterError naming the field at fault (ConfigError, VggWeightsError among
    them; `workdir` for a config.json that is not a run's, `steps` for fewer steps than the
    workdir's run has made), PresetError, DownloadError (fetching `init_from`), or
    ValueError when the workdir holds a run that this config cannot resume."""
    from cartoongan.data.pipeline import check_data_dir
    from cartoongan.presets import check_preset_name, read_preset_config, resolve_preset

    check_workdir(workdir)
    check_data_dir(data)
    vgg_weights = options.get("vgg_weights", "imagenet")
    if vgg_weights not in ("imagenet", "random") and os.path.isfile(vgg_weights):
        from cartoongan.losses import check_vgg19_weights_file

        check_vgg19_weights_file(vgg_weights)
    init_from = options.get("init_from")
    if init_from:
        check_preset_name(init_from)
        preset = read_preset_config(resolve_preset(init_from))
        class_name = preset["generator"]["class_name"]
        kind = {v: k for k, v in GENERATOR_CLASSES.items()}.get(class_name)
        if kind is None:
            raise ParameterError("init_from", "{name} {init_from}: training cannot build its {class_name}",
                                 init_from=init_from, class_name=class_name)
        if generator and canonical_generator(generator) != kind:
            raise ParameterError("generator", "{name} {generator} contradicts {names[init_from]} {init_from} "
                                 "({class_name})", generator=generator, init_from=init_from, class_name=class_name)
        if options.get("generator_config"):
            raise ParameterError("generator_config", "{name} cannot change a pretrained generator given by "
                                 "{names[init_from]}")
        generator = kind
    config = TrainConfig(data, workdir, generator=generator or "cartoongan", **options)
    if init_from:
        _check_crop_size(config.image_size, init_from, preset.get("preprocessing", {}))
    if options.get("photo_path") == "on" and not has_photo_path(config.generator):
        raise ParameterError("photo_path", "{name} on: the {generator} generator has no photo path (only "
                             "{families} have one)", generator=config.generator,
                             families=" and ".join(g for g in GENERATOR_CLASSES if has_photo_path(g)))
    previous = os.path.join(workdir, "config.json")
    if os.path.exists(previous):
        config.check_resumable_from(_read_run_config(previous, workdir), source=previous)
    reached = checkpoint_step(workdir)
    if reached is not None and config.steps < reached:
        raise ParameterError("steps", "{name} {steps}: the run in {workdir} is already at step {reached}, past the "
                             "steps asked for (a run never goes back; its preset is of step {reached}): to train "
                             "further, give {name} above {reached}; for a run of {steps} steps, use another "
                             "{names[workdir]}",
                             steps=config.steps, workdir=workdir, reached=reached)
    return config


def _check_crop_size(image_size, init_from, preprocessing):
    """ParameterError (`image_size`) for a crop the preset's generator cannot take: not a
    multiple of its stride (its skip connections would not line up) or under its min_size."""
    multiple, minimum = preprocessing.get("size_multiple", 4), preprocessing.get("min_size", 1)
    if image_size % multiple or image_size < minimum:
        raise ParameterError("image_size", "{name} {image_size}: the generator of {names[init_from]} {init_from} takes "
                             "multiples of {multiple}{minimum}", image_size=image_size, init_from=init_from,
                             multiple=multiple, minimum=f", at least {minimum}" if minimum > multiple else "")


def _read_run_config(path, workdir):
    """The dict of a run's config.json, or ParameterError (`workdir`) naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
    except (ValueError, OSError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ParameterError("workdir", "{name} {workdir}: {path} cannot be read as a run's config ({error}); "
                             "restore it, or use another {name}", workdir=workdir, path=path, error=error) from None
    if not isinstance(previous, dict):
        raise ParameterError("workdir", "{name} {workdir}: {path} holds a JSON {kind}, not a run's config (an "
                             "object); restore it, or use another {name}", workdir=workdir, path=path,
                             kind=type(previous).__name__)
    return previous


def checkpoint_step(workdir):
    """The step of the latest checkpoint in `workdir` (its number: the trainer saves each as
    ckpt-STEP), or None when there is none."""
    import tensorflow as tf

    from cartoongan.training.trainer import CHECKPOINT_DIR

    latest = tf.train.latest_checkpoint(os.path.join(workdir, CHECKPOINT_DIR)) if os.path.isdir(workdir) else None
    number = re.search(r"-(\d+)$", latest or "")
    return int(number[1]) if number else None


def _layout():
    """What a run writes in its workdir: {name: (a folder?, saved work a resume starts from?)}."""
    from cartoongan.training.trainer import CHECKPOINT_DIR, CONFIG_FILE, METRICS_FILE, PRESET_DIR, TENSORBOARD_DIR

    return {CHECKPOINT_DIR: (True, True), PRESET_DIR: (True, True), TENSORBOARD_DIR: (True, False),
            CONFIG_FILE: (False, False), METRICS_FILE: (False, False)}


def check_workdir(workdir):
    """ParameterError (`workdir`) when `workdir`, a folder above it, or a path in it that a run
    writes exists as the wrong kind (a file `checkpoints`, a folder `config.json`): found
    here, before the models are built, instead of as a traceback or a "full disk" later.
    A `workdir` that is not a folder is refused without importing TensorFlow."""
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise ParameterError("workdir", "{name} {workdir} is a file, not a folder", workdir=workdir)
    above = os.path.dirname(os.path.abspath(workdir))
    while not os.path.exists(above):
        above = os.path.dirname(above)
    if not os.path.isdir(above):
        raise ParameterError("workdir", "{name} {workdir}: {above} is a file, not a folder", workdir=workdir,
                             above=above)
    for name, (folder, _) in (_layout() if os.path.isdir(workdir) else {}).items():
        path = os.path.join(workdir, name)
        if os.path.exists(path) and os.path.isdir(path) != folder:
            raise ParameterError("workdir", "{name} {workdir}: {path} is a {kind}, where a run writes its {name_of} "
                                 "{expected}; move it away", workdir=workdir, path=path,
                                 kind="folder" if folder is False else "file", name_of=name,
                                 expected="file" if folder is False else "folder")


def remove_unused_workdir(workdir, existed):
    """After a failed run: removes `workdir` when the run created it (`existed` False) and
    saved nothing in it (no checkpoint, no preset): its config.json and the metrics and
    TensorBoard events of steps without a checkpoint are of a run that cannot be resumed
    (a re-run would redo those steps). -> whether it was removed."""
    if existed or not os.path.isdir(workdir):
        return False
    layout = _layout()
    saved = [name for name, (_, work) in layout.items() if work and os.path.exists(os.path.join(workdir, name))
             and (not os.path.isdir(os.path.join(workdir, name)) or os.listdir(os.path.join(workdir, name)))]
    if saved or set(os.listdir(workdir)) - set(layout):  # never remove what this run did not write
        return False
    shutil.rmtree(workdir)
    return True
