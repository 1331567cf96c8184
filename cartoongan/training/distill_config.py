"""The resolved configuration of a distillation run, stored as `config.json` in its workdir.

Free of TensorFlow and Keras: a command line builds and checks it before loading either.
"""

import dataclasses
import json
import math
import os

from cartoongan.errors import ParameterError
from cartoongan.options import option, required

CONFIG_FILE = "config.json"
# What a resumed run may change: how long it trains (the learning-rate schedule stretches
# to the new length, as it always did), what it is scored on, where the result goes, and
# whether XLA compiles the step (it changes how, not what, is trained).
# Everything else would make the backup's weights, optimizer or data mean something else.
_CHANGEABLE_ON_RESUME = ("workdir", "steps", "eval_photos", "eval_every", "name", "output", "xla")


@dataclasses.dataclass
class DistillConfig:
    """The options of a distillation run; those with a help text are also the options of
    `cartoongan-distill` (--field-name), whose --help shows that text and the default."""

    workdir: str = required("teacher targets (data/), eval_teacher.npz, training backup, metrics and preset (train/)")
    photos: list = required("training photo folders (searched recursively)", nargs="+", metavar="DIR")
    teacher: str = option("hayao", "style name or preset directory to distil")
    eval_photos: str | None = option(None, "held-out photos: PSNR against the teacher", metavar="DIR",
                                     shown_default="no evaluation")
    # Teacher targets (cartoongan.data.teacher_targets)
    crop_size: int = option(192, "side of the square teacher crops; with a long side, the least short side")
    crops_per_image: int = option(1, "teacher crops per photo (without a long side)")
    long_side: int | None = option(None, "targets on whole photos downscaled to this long side, trained whole",
                                   metavar="PX", shown_default="crops")
    teacher_precision: str = option("auto", "precision of the teacher while making targets",
                                    choices=("auto", "float32", "bfloat16", "float16"))
    # Student
    generator: str = option("CartoonGanGenerator", "student class (a generator class of cartoongan.families)")
    generator_config: dict = option({"filters": 24, "num_residual_blocks": 4}, "the student's constructor overrides",
                                    metavar="JSON", shown_default='{"filters": 24, "num_residual_blocks": 4}')
    init_from: str | None = option(None, "initialise the student from this generator, e.g. an earlier student",
                                   metavar="STYLE_OR_PRESET", shown_default="random init")
    # Training
    steps: int = option(4000, "training steps (a multiple of the epoch steps)")
    batch_size: int = option(8, "photos or crops per step")
    learning_rate: float = option(5e-4, "peak, reached after the warm-up steps; then cosine decay to the final rate")
    final_learning_rate: float | None = option(None, "end of the cosine decay", shown_default="a tenth of the peak")
    warmup_steps: int = option(0, "linear learning-rate warm-up from 0 (hayao_lite stage 2: 100)")
    gradient_weight: float = option(0.0, "weight of an L1 loss on image gradients")
    train_precision: str = option("float32", "precision of the student's convolutions while training (weights "
                                  "stay float32)", choices=("float32", "bfloat16"))
    xla: str = "auto"  # auto (Keras' choice: on under JAX and with a TensorFlow GPU), on, off
    epoch_steps: int = option(50, "steps between metric rows and backups (a Keras epoch)")
    eval_every: int = option(500, "steps between held-out evaluations (a multiple of the epoch steps)")
    seed: int = option(0, "seed of the teacher crops, the training batches and the student's init")
    name: str = option("student", "preset name recorded in config.json")
    output: str | None = option(None, "copy the final preset here", metavar="DIR", shown_default="only in train/")

    def __post_init__(self):
        from cartoongan.families import GENERATOR_BOUNDS
        from cartoongan.presets import check_preset_name_value

        if self.final_learning_rate is None:
            self.final_learning_rate = self.learning_rate / 10
        self.photos = [str(folder) for folder in self.photos]
        for name in ("learning_rate", "final_learning_rate", "gradient_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ParameterError(name, "{name} must be a finite number >= 0, not {value!r}", value=value)
        minimums = {"steps": 1, "batch_size": 1, "crop_size": 1, "crops_per_image": 1, "epoch_steps": 1,
                    "eval_every": 1, "warmup_steps": 0, "seed": 0}
        for name, low in minimums.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ParameterError(name, "{name} must be an integer >= {low}, not {value!r}", low=low, value=value)
        if self.long_side is not None and not (isinstance(self.long_side, int) and self.crop_size <= self.long_side):
            raise ParameterError("crop_size", "{name} ({crop}) must be at most the long side ({long})",
                                 crop=self.crop_size, long=self.long_side)
        if self.long_side is not None and self.epoch_steps < 2:
            # Keras fixes TensorFlow's input signature from an epoch's first two batches.
            raise ParameterError("epoch_steps", "{name} must be at least 2 with whole photos (a long side), "
                                 "not {value}", value=self.epoch_steps)
        for name in ("steps", "eval_every"):
            if getattr(self, name) % self.epoch_steps:
                raise ParameterError(name, "{name} ({value}) must be a multiple of the {epoch} steps of an epoch",
                                     value=getattr(self, name), epoch=self.epoch_steps)
        choices = {"train_precision": ("float32", "bfloat16"), "xla": ("auto", "on", "off"),
                   "teacher_precision": ("auto", "float32", "bfloat16", "float16"),
                   "generator": tuple(GENERATOR_BOUNDS)}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ParameterError(name, "{name} must be one of {allowed}, not {value!r}",
                                     allowed=", ".join(allowed), value=getattr(self, name))
        if not isinstance(self.generator_config, dict):
            raise ParameterError("generator_config", "{name} must be an object, not {value!r}", value=self.generator_config)
        for key, value in self.generator_config.items():
            low, high = GENERATOR_BOUNDS[self.generator].get(key, (None, None))
            if low is None or isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ParameterError("generator_config", "{name}: {key}={value!r} is not an integer parameter of "
                                     "{generator} within its bounds ({bounds})", key=key, value=value,
                                     generator=self.generator, bounds=GENERATOR_BOUNDS[self.generator])
        try:
            check_preset_name_value(self.name)
        except ValueError:
            raise ParameterError("name", "{name} {value!r} is not a valid preset name (letters, digits and ._+- "
                                 "only, starting with a letter or digit, at most 64 characters)", value=self.name)

    @property
    def data_dir(self):
        return os.path.join(self.workdir, "data")

    @property
    def train_dir(self):
        return os.path.join(self.workdir, "train")

    @property
    def references_path(self):
        return os.path.join(self.workdir, "eval_teacher.npz")

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, allow_nan=False) + "\n"

    def check_resumable_from(self, previous):
        """Raises ParameterError if `previous` (a dict from the workdir's config.json) trained
        something else than this configuration would."""
        for key, value in dataclasses.asdict(self).items():
            if key not in _CHANGEABLE_ON_RESUME and previous.get(key, value) != value:
                raise ParameterError(key, "{name}: {workdir} holds a run made with {before!r}, not {value!r}: use "
                                     "another workdir, or the same value to resume it", workdir=self.workdir,
                                     before=previous[key], value=value)
