"""The resolved configuration of a distillation run, stored as `config.json` in its workdir.

Free of TensorFlow and Keras: a command line builds and checks it before loading either.
"""

import dataclasses
import json
import math
import os

from cartoongan.errors import ParameterError

CONFIG_FILE = "config.json"
# What a resumed run may change: how long it trains (the learning-rate schedule stretches
# to the new length, as it always did), what it is scored on, and where the result goes.
# Everything else would make the backup's weights, optimizer or data mean something else.
_CHANGEABLE_ON_RESUME = ("workdir", "steps", "eval_photos", "eval_every", "name", "output")


@dataclasses.dataclass
class DistillConfig:
    workdir: str  # data/ (teacher targets), eval_teacher.npz, train/ (backup, metrics, preset)
    photos: list  # training photo folders (searched recursively)
    teacher: str = "hayao"  # style name or preset directory to distil
    eval_photos: str | None = None  # held-out photo folder: PSNR against the teacher
    # Teacher targets (cartoongan.data.teacher_targets)
    crop_size: int = 192  # side of the square crops; with long_side, the smallest short side
    crops_per_image: int = 1  # crops per photo (without long_side)
    long_side: int | None = None  # whole photos downscaled to this long side, trained on whole
    teacher_precision: str = "auto"  # precision of the teacher while making targets
    # Student
    generator: str = "CartoonGanGenerator"  # a class of cartoongan.models.GENERATORS
    generator_config: dict = dataclasses.field(default_factory=lambda: {"filters": 24, "num_residual_blocks": 4})
    init_from: str | None = None  # preset whose weights start the student (None: random init)
    # Training
    steps: int = 4000
    batch_size: int = 8
    learning_rate: float = 5e-4  # peak, reached after warmup_steps, then cosine decay
    final_learning_rate: float | None = None  # end of the cosine decay (None: a tenth of the peak)
    warmup_steps: int = 0  # linear warm-up from 0
    gradient_weight: float = 0.0  # weight of the L1 loss on image gradients
    train_precision: str = "float32"  # float32 or bfloat16 (the convolutions; weights stay float32)
    xla: str = "auto"  # auto (Keras' choice: on under JAX and with a TensorFlow GPU), on, off
    epoch_steps: int = 50  # steps between metric rows and backups (a Keras epoch)
    eval_every: int = 500  # steps between held-out evaluations (a multiple of epoch_steps)
    seed: int = 0
    name: str = "student"  # preset name
    output: str | None = None  # copy the final preset here

    def __post_init__(self):
        from cartoongan.presets import GENERATOR_PARAMETER_BOUNDS, check_preset_name_value

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
                   "generator": tuple(GENERATOR_PARAMETER_BOUNDS)}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ParameterError(name, "{name} must be one of {allowed}, not {value!r}",
                                     allowed=", ".join(allowed), value=getattr(self, name))
        if not isinstance(self.generator_config, dict):
            raise ParameterError("generator_config", "{name} must be an object, not {value!r}", value=self.generator_config)
        for key, value in self.generator_config.items():
            low, high = GENERATOR_PARAMETER_BOUNDS[self.generator].get(key, (None, None))
            if low is None or isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ParameterError("generator_config", "{name}: {key}={value!r} is not an integer parameter of "
                                     "{generator} within its bounds ({bounds})", key=key, value=value,
                                     generator=self.generator, bounds=GENERATOR_PARAMETER_BOUNDS[self.generator])
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
