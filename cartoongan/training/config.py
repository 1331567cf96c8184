"""The resolved configuration of a training run, stored as `config.json` in its workdir."""

import dataclasses
import json
import os

# Options that change what a checkpoint contains: a resumed run must agree on them.
_RESUME_KEYS = ("generator", "generator_config", "init_from", "discriminator_filters", "precision")


@dataclasses.dataclass
class TrainConfig:
    data: str
    workdir: str
    generator: str = "full"  # "full" (CartoonGAN) or "light" (CartoonGan-tensorflow)
    generator_config: dict = dataclasses.field(default_factory=dict)  # constructor overrides
    init_from: str | None = None  # style name or preset directory to fine-tune from
    init_steps: int = 1000  # content-only initialization steps (the paper's first phase)
    steps: int = 10000  # all steps, initialization included
    batch_size: int = 8  # global batch, split across replicas
    image_size: int = 256
    vgg_weights: str = "imagenet"
    adversarial_loss: str = "lsgan"
    content_weight: float = 10.0
    generator_lr: float = 2e-4
    discriminator_lr: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    discriminator_filters: int = 32
    precision: str = "float32"  # float32, bfloat16 or float16 (mixed precision)
    xla: str = "auto"  # auto (on with a GPU), on, off
    distribute: str = "auto"  # auto, default, mirrored, multi_worker
    seed: int = 0
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    sample_every: int = 100

    def __post_init__(self):
        from cartoongan.losses import ADVERSARIAL_LOSSES

        checks = [
            (self.generator in ("full", "light"), "--generator must be full or light"),
            (self.steps >= 0 and self.init_steps >= 0, "--steps and --init-steps must be >= 0"),
            (self.batch_size >= 1, "--batch-size must be >= 1"),
            (self.image_size >= 16 and self.image_size % 4 == 0, "--image-size must be a multiple of 4, >= 16"),
            (self.adversarial_loss in ADVERSARIAL_LOSSES, f"--adversarial-loss must be one of {sorted(ADVERSARIAL_LOSSES)}"),
            (self.precision in ("float32", "bfloat16", "float16"), "--precision must be float32, bfloat16 or float16"),
            (self.xla in ("auto", "on", "off"), "--xla must be auto, on or off"),
            (self.distribute in ("auto", "default", "mirrored", "multi_worker"), "--distribute must be auto, default, mirrored or multi_worker"),
            (self.checkpoint_every >= 1 and self.sample_every >= 1, "--checkpoint-every and --sample-every must be >= 1"),
            (self.vgg_weights in ("imagenet", "random") or os.path.isfile(self.vgg_weights),
             f"--vgg-weights must be imagenet, random or an existing file, not {self.vgg_weights!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    def check_resumable_from(self, previous):
        """Raises ValueError if `previous` (a dict from config.json) trained something else."""
        for key in _RESUME_KEYS:
            if key in previous and previous[key] != getattr(self, key):
                raise ValueError(
                    f"{self.workdir} holds a run with {key}={previous[key]!r}, not {getattr(self, key)!r}: "
                    "use another --workdir or the same options to resume"
                )
