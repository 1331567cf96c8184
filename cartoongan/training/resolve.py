"""A run's TrainConfig from the options a user gave, checked against the files they name
before any model is built: the data folder, a VGG19 weights file, the preset a fine-tune
starts from (whose architecture the run takes) and the run already in the workdir."""

import json
import os

from cartoongan.errors import ParameterError
from cartoongan.training.config import GENERATOR_CLASSES, TrainConfig


def resolve_config(data, workdir, generator=None, **options):
    """-> TrainConfig. `generator` None: the architecture of the `init_from` preset, or
    "full" from scratch; given with `init_from`, it must be the preset's. Loads TensorFlow.

    Raises ParameterError naming the field at fault (ConfigError, VggWeightsError among
    them), PresetError, DownloadError (fetching `init_from`), or ValueError when the workdir
    holds a run that this config cannot resume."""
    from cartoongan.data.pipeline import check_data_dir
    from cartoongan.presets import check_preset_name, read_preset_config, resolve_preset

    check_data_dir(data)
    vgg_weights = options.get("vgg_weights", "imagenet")
    if vgg_weights not in ("imagenet", "random") and os.path.isfile(vgg_weights):
        from cartoongan.losses import check_vgg19_weights_file

        check_vgg19_weights_file(vgg_weights)
    init_from = options.get("init_from")
    if init_from:
        check_preset_name(init_from)
        class_name = read_preset_config(resolve_preset(init_from))["generator"]["class_name"]
        kind = {v: k for k, v in GENERATOR_CLASSES.items()}.get(class_name)
        if kind is None:
            raise ParameterError("init_from", "{name} {init_from}: training cannot build its {class_name}",
                                 init_from=init_from, class_name=class_name)
        if generator and generator != kind:
            raise ParameterError("generator", "{name} {generator} contradicts {names[init_from]} {init_from} "
                                 "({class_name})", generator=generator, init_from=init_from, class_name=class_name)
        if options.get("generator_config"):
            raise ParameterError("generator_config", "{name} cannot change a pretrained generator given by "
                                 "{names[init_from]}")
        generator = kind
    config = TrainConfig(data, workdir, generator=generator or "full", **options)  # from scratch: full
    previous = os.path.join(workdir, "config.json")
    if os.path.exists(previous):
        with open(previous) as f:
            config.check_resumable_from(json.load(f))
    return config
