"""The resolved configuration of a training run, stored as `config.json` in its workdir."""

import dataclasses
import json
import math
import os

from cartoongan.errors import ParameterError
from cartoongan.families import FAMILIES, GENERATOR_BOUNDS, TRAINABLE_FAMILIES, family_name, input_sizes
from cartoongan.models import (
    INK_PATHS,
    LEGACY_PHOTO_PATH_GAIN,
    MEDIAN_SIZES,
    PHOTO_PATH_GAIN,
    PHOTO_PATH_MEDIAN,
    is_median_window,
)
from cartoongan.options import option as _option
from cartoongan.precision import PRECISIONS

# Adam's first steps move every weight by about the learning rate whatever the gradient:
# at 2e-4 one step takes Hayao to 14 dB PSNR from itself, at 1e-5 to 46 dB (measured); the
# warm-up (warmup_steps) removes that shock. A fine-tune must then move far: hayao_lite's
# outputs start 0.2 (of [-1, 1]) bluer-yellow than their photos and 2.9 dB further from a toy
# style's targets than the photos; at 1e-5 it stayed there for 1000 steps, at 1e-4 the colour
# loss alone took it from 17.1 to 18.9 dB of its photos in 100 steps (2e-4: 19.2, 1e-3: 17.2).
# With the median paths, 1000 steps at 7e-5 ended closer to the toy styles' targets than at
# 1e-4 (docs/learning.md).
SCRATCH_GENERATOR_LR = 2e-4
FINE_TUNE_GENERATOR_LR = 7e-5

# What a step of the defaults below costs (cartoongan-train --help says it).
STEP_COST = """\
what a step costs: a GAN step at the defaults (full generator, 256 px crops, batch 8,
VGG19 content loss) takes about 70 s on a 2-core CPU (measured) and, estimated from its
FLOPs (not measured), well under a second on one current GPU.
Fine-tuning hayao_lite at 64 px, batch 4 takes about 0.6 s a step on that CPU (measured).
The first step of each phase traces the step function first (tens of seconds; minutes
with XLA): the progress bar says so while it happens."""

# The CartoonGAN paper's losses and discriminator, as TrainConfig fields (README: Training):
# what the defaults add to it can be switched off with these flags.
# Its content weight, 10 on raw block4_conv4 features, is 3250 on the scaled ones the content
# loss takes (losses.VggFeatures.FEATURE_SCALE).
PAPER_RECIPE = {"colour_weight": 0.0, "colour_distribution_weight": 0.0, "checkerboard_weight": 0.0, "palette_weight": 0.0,
                "discriminator_norm": "instance", "warmup_steps": 0, "vgg_weights": "imagenet", "content_features": "vgg",
                "photo_path": "off", "content_weight": 3250.0, "colour_pool": 1, "texture_weight": 0.0,
                "line_weight": 0.0, "ink_path": "off", "body_weight": 0.0, "body_colour_weight": 0.0,
                "content_median": 0, "lr_decay": "none", "average_last": 0.0}

# The generator families training builds (`cartoongan.families`, TensorFlow-free), by their
# one name; their bounds are the families' one table, which presets check too.
GENERATOR_CLASSES = {name: FAMILIES[name].generator_class for name in TRAINABLE_FAMILIES}
# Generator parameters that options of their own set (--photo-path), not --generator-config.
_SET_BY_OPTIONS = ("photo_path", "photo_path_gain", "ink_path", "photo_path_median")


def _photo_path_gain_bounds():
    """(low, high) of --photo-path-gain, whatever the generator: the bounds table's, which
    every family with a photo path shares."""
    bounds = {b["photo_path_gain"] for b in GENERATOR_BOUNDS.values() if "photo_path_gain" in b}
    if len(bounds) != 1:
        raise ImportError(f"the families with a photo path disagree on the bounds of photo_path_gain: {sorted(bounds)}")
    return bounds.pop()


PHOTO_PATH_GAIN_BOUNDS = _photo_path_gain_bounds()


def canonical_ink_path(name):
    """The ink path's name for "on" (the thin lines of runs and scripts from before soft
    lines); anything else as it is, for the choices check to refuse by name."""
    return "thin" if name == "on" else name


def canonical_generator(name):
    """The family's one name for an older one ("full" -> "cartoongan"); anything else as it is,
    for the choices check to refuse by name."""
    try:
        return family_name(name)
    except ValueError:
        return name


# Keys whose absence in an older run's config.json means this value (not today's default).
_RESUME_LEGACY = {"discriminator_norm": "instance", "warmup_steps": 0, "photo_path": "off", "texture_weight": 0.0,
                  "photo_path_gain": LEGACY_PHOTO_PATH_GAIN, "ink_path": "off", "lr_decay": "none",
                  "photo_path_median": 0, "average_last": 0.0}
# Resume keys of which only whether they are zero changes the checkpoint (a second discriminator,
# the weights' mean).
_RESUME_SWITCHES = ("texture_weight", "average_last")

# Options that change what a checkpoint contains: a resumed run must agree on them.
# warmup_steps, lr_decay: with a warm-up or a decay the optimizers' learning rate is a
# schedule, without either a variable the checkpoint holds: the two cannot restore each other.
_RESUME_KEYS = ("generator", "generator_config", "init_from", "discriminator_filters", "discriminator_norm", "precision",
                "warmup_steps", "lr_decay", "photo_path", "photo_path_gain", "photo_path_median", "ink_path", "texture_weight",
                "average_last")


def has_photo_path(generator):
    """Whether the `generator` family takes --photo-path (cartoongan and light): the others are
    built and recorded without it (photo_path "off")."""
    return "photo_path" in GENERATOR_BOUNDS.get(GENERATOR_CLASSES.get(generator), {})

# The choices of the options, free of TensorFlow so that a tool can offer them in --help and
# a config be checked before TensorFlow loads; tests/training/test_config.py checks them
# against cartoongan.losses and cartoongan.models.discriminator, which define the real things.
ADVERSARIAL_LOSS_KINDS = ("lsgan", "bce")
CONTENT_FEATURE_KINDS = ("auto", "vgg", "encoder")
DISCRIMINATOR_NORMS = ("instance", "none")
ON_OFF = ("on", "off")  # photo_path, line_photo_path
LR_DECAYS = ("linear", "none")
COLOUR_LEVELS = ("free", "photo")


class ConfigError(ParameterError):
    """A value of a TrainConfig is wrong; `field` names it, and `message` starts with it
    (`explain` gives the caller's name for it, e.g. the flag)."""

    def __init__(self, field, message):
        super().__init__(field, "{name}{rest}", rest=message[len(field):] if message.startswith(field) else ": " + message)


@dataclasses.dataclass
class TrainConfig:
    """The options of a training run; those with a help text are also the options of
    `cartoongan-train` (--field-name), whose --help shows that text and the default."""

    data: str = dataclasses.field(metadata={"help": "folder written by build_tfrecords (photo and anime shards)"})
    workdir: str = dataclasses.field(metadata={"help": "checkpoints, metrics.jsonl, TensorBoard logs and preset/"})
    generator: str = _option("cartoongan", "model family (cartoongan: the original CartoonGAN, light: "
                             "CartoonGan-tensorflow's; `full` is an old name of cartoongan); when fine-tuning, the "
                             "preset's", choices=tuple(GENERATOR_CLASSES),
                             type=canonical_generator, metavar="{" + ",".join(GENERATOR_CLASSES) + "}")
    generator_config: dict = _option({}, 'constructor overrides, e.g. \'{"filters": 32, "num_residual_blocks": 4}\'',
                                     metavar="JSON", shown_default="none")
    init_from: str | None = _option(None, "start the generator from a style or preset (fine-tuning)",
                                    metavar="STYLE_OR_PRESET", shown_default="from scratch")
    photo_path: str = _option("on", "give the full and light generators a path for the photo's own colours "
                              "(zero-initialised, so a fine-tune starts at its preset): their first instance norm "
                              "hides how bright and coloured the photo is, so without it they cannot keep or map "
                              "its colours", choices=ON_OFF)
    ink_path: str = _option("thin", "with the photo path, a path for lines: a learned weighting of the photo's edges "
                            "thinned to one pixel across, added before the output (zero-initialised); soft: those "
                            "edges blurred by the 3x3 binomial kernel first, lines the checkerboard loss lets through "
                            "(on: thin)", choices=INK_PATHS,
                            type=canonical_ink_path, metavar="{" + ",".join(INK_PATHS) + "}")
    photo_path_gain: int = _option(PHOTO_PATH_GAIN, "fixed gain of the photo path's convolutions: a larger learning "
                                   "rate for them alone, so that the photo's colours pass through within a few hundred "
                                   "steps", metavar="N")
    photo_path_median: int = _option(PHOTO_PATH_MEDIAN, "the photo path carries the photo's N x N median (0: the photo "
                                     "itself): flat colours with the photo's edges in place and its texture left out, "
                                     "which the unpaired losses do not learn to remove", metavar="N")
    init_steps: int = _option(1000, "content-only initialization steps (the paper's first phase)")
    steps: int = _option(10000, "all steps, initialization included")
    batch_size: int = _option(8, "global batch size, split across replicas")
    image_size: int = _option(256, "training crop size")
    vgg_weights: str = _option("imagenet", "VGG19 weights of the content loss: imagenet (Keras downloads them once), "
                               "a VGG19 notop .h5 file, or random", metavar="imagenet|random|PATH")
    content_features: str = _option("auto", "features of the content loss: vgg (VGG19 block4_conv4, the paper's), "
                                    "encoder (the shipped hayao_lite generator's encoder, an offline stand-in), "
                                    "auto: vgg unless the VGG19 weights are random, then encoder",
                                    choices=CONTENT_FEATURE_KINDS)
    adversarial_loss: str = _option("lsgan", "loss of the adversarial terms: lsgan (least squares) or bce "
                                    "(binary cross-entropy)", choices=ADVERSARIAL_LOSS_KINDS)
    content_weight: float = _option(10.0, "weight of the content loss against the adversarial one")
    content_median: int = _option(5, "the content loss holds each output to its photo's N x N median (0: to the photo "
                                  "itself), the flat colours the photo path carries: held to the photo's texture, the "
                                  "network draws it back over them", metavar="N")
    edge_weight: float = _option(1.0, "weight of the edge-smoothed anime images, shown to the discriminator as "
                                 "fakes (the paper's edge-promoting loss)")
    palette_weight: float = _option(0.0, "weight of the palette term: distance of each generated pixel's colour to the "
                                    "nearest colour of the anime batch (one-sided: it collapses onto the commonest "
                                    "colours, grey for posterized styles; the paper's recipe and the defaults leave it off)")
    colour_weight: float = _option(15.0, "weight of the colour loss against each output's own photo (L1 in YUV, chroma "
                                   "weighted by --colour-chroma): undoes a pretrained style's colour casts and holds "
                                   "the photo's light, which the line loss would let fall flat")
    colour_distribution_weight: float = _option(10.0, "weight of the sliced Wasserstein distance between the colours "
                                                "of the outputs and of the anime batch: a style's colour distribution, "
                                                "proportions included")
    colour_chroma: float = _option(0.0, "weight of chroma against luma in the colour loss (1: AnimeGANv2's, alike): "
                                   "at 0 it holds the photo's light only and the style's colours (desaturation, "
                                   "tints) come from the distribution term and the discriminators")
    colour_pool: int = _option(4, "the colour loss compares the mean colours of N x N cells: per pixel (1) it holds "
                               "every pixel at its photo's colour, erasing drawn lines and flat areas", metavar="N")
    colour_level: str = _option("free", "what the colour loss holds: free (each output's cells relative to its own "
                                "mean at its photo's: the photo's pattern of light, its overall level left to the "
                                "style's terms, as a style's lines darken it) or photo (the cells at the photo's "
                                "light)", choices=COLOUR_LEVELS)
    texture_weight: float = _option(1.0, "weight of White-box's texture discriminator (a second one, shown randomly "
                                    "weighted grayscale images: strokes and contrast, not colour); 0: none")
    style_weight: float = _option(0.0, "weight of AnimeGANv2's style loss (Gram matrices of the content features of "
                                  "grayscale outputs and anime images)")
    structure_weight: float = _option(0.0, "weight of White-box's structure loss (content features of each output "
                                      "against its SLIC-superpixel-flattened self: asks for flat regions)")
    line_weight: float = _option(5.0, "weight of the line loss: how dark the thin structures are at each level of "
                                 "local contrast, the outputs' against the anime batch's (outlines at edges)")
    line_photo_path: str = _option("on", "whether the line loss moves the photo path's weights (off: only the ink "
                                   "path's and the network's; it counts the photo's texture as ink, and dims the whole "
                                   "photo to lower it)", choices=ON_OFF)
    body_weight: float = _option(5.0, "weight of the network's own share of the output (the mean square of what its "
                                 "last convolution adds beside the photo and ink paths): it draws what the "
                                 "discriminators ask for, not the photo over again; photo-path generators only")
    body_colour_weight: float = _option(20.0, "weight of the network's share less its dark grey part (the colours "
                                        "and light it adds) away from the photo's edges, beside --body-weight on all "
                                        "of it: the network does not draw the photo back over the paths; its dark "
                                        "lines and shadows, and any colour next to an edge, cost no more; photo-path "
                                        "generators only")
    checkerboard_weight: float = _option(30.0, "weight of the excess of the outputs' pixel-period response (2x2 "
                                         "checkerboard, [1, -2, 1] stripes along each axis) over the photos': keeps "
                                         "transposed-convolution artefacts out")
    generator_lr: float | None = _option(None, "Adam learning rate of the generator", shown_default=(
        f"{SCRATCH_GENERATOR_LR:g} from scratch, {FINE_TUNE_GENERATOR_LR:g} when fine-tuning"))
    discriminator_lr: float = _option(2e-4, "Adam learning rate of the discriminator")
    warmup_steps: int = _option(100, "both learning rates rise linearly from 0 over their first N steps (Adam's "
                                "first steps move every weight by about the learning rate)", metavar="N")
    lr_decay: str = _option("linear", "after the warm-up, both learning rates fall linearly to 0 at --steps (linear) "
                            "or stay (none)", choices=LR_DECAYS)
    average_last: float = _option(0.7, "the preset holds the mean of the generator's weights over this share of the "
                                  "steps, the last ones (0: the last step's weights): a GAN fine-tune's scores "
                                  "wander from step to step, their mean stays near the best", metavar="SHARE")
    beta_1: float = 0.5
    beta_2: float = 0.999
    discriminator_filters: int = 32
    discriminator_norm: str = _option("none", "normalization in the discriminator: instance (the paper's) hides the "
                                      "image-wide statistics a style is made of", choices=DISCRIMINATOR_NORMS)
    precision: str = _option("auto", "mixed precision of the convolutions (auto: bfloat16 on a CPU that computes it "
                             "natively, float32 elsewhere; the run's config.json records the one used)", choices=PRECISIONS)
    xla: str = _option("auto", "XLA-compile the train step (auto: on with a GPU)", choices=("auto", "on", "off"))
    distribute: str = _option("auto", "tf.distribute strategy (auto: multi_worker if TF_CONFIG names workers, "
                              "mirrored with several GPUs)", choices=("auto", "default", "mirrored", "multi_worker"))
    seed: int = _option(0, "seed of the data order and of the random crops and flips")
    checkpoint_every: int = _option(100, "steps between checkpoints and preset updates")
    keep_checkpoints: int = 3
    sample_every: int = _option(100, "steps between TensorBoard sample images and the guard scores (colour distance "
                                "to the anime set; gain over the photo with --held-out), also written at the start")
    held_out: str | None = _option(None, "a folder of held-out photos/ and, optionally, targets/ (each photo's own "
                                   "target rendering, same relative name): scored every --sample-every steps",
                                   metavar="DIR", shown_default="none")

    def __post_init__(self):
        if self.generator_lr is None:
            self.generator_lr = FINE_TUNE_GENERATOR_LR if self.init_from else SCRATCH_GENERATOR_LR

        floats = ("content_weight", "edge_weight", "palette_weight", "colour_weight", "colour_distribution_weight",
                  "checkerboard_weight", "texture_weight", "style_weight", "structure_weight", "line_weight",
                  "body_weight", "body_colour_weight", "colour_chroma", "generator_lr", "discriminator_lr",
                  "beta_1", "beta_2", "average_last")
        if isinstance(self.generator, str) and self.generator not in GENERATOR_CLASSES:
            self.generator = canonical_generator(self.generator)  # an older name ("full"); else refused below
        self.ink_path = canonical_ink_path(self.ink_path)
        for name in floats:  # NaN would also make config.json invalid JSON
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(name, f"{name} must be a finite number >= 0, not {value!r}")
        checks = [
            ("generator", self.generator in GENERATOR_CLASSES, "generator must be one of " + ", ".join(GENERATOR_CLASSES)),
            ("warmup_steps", self.warmup_steps >= 0, "warmup_steps must be >= 0"),
            ("average_last", self.average_last <= 1.0, f"average_last must be from 0 to 1, not {self.average_last!r}"),
            ("colour_pool", isinstance(self.colour_pool, int) and 1 <= self.colour_pool <= 64,
             "colour_pool must be an integer in 1..64"),
            ("steps", self.steps >= 0, "steps must be >= 0"),
            ("init_steps", self.init_steps >= 0, "init_steps must be >= 0"),
            ("batch_size", self.batch_size >= 1, "batch_size must be >= 1"),
            ("image_size", self.image_size >= 16 and self.image_size % 4 == 0, "image_size must be a multiple of 4, >= 16"),
            ("adversarial_loss", self.adversarial_loss in ADVERSARIAL_LOSS_KINDS,
             f"adversarial_loss must be one of {', '.join(ADVERSARIAL_LOSS_KINDS)}"),
            ("precision", self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}"),
            ("xla", self.xla in ("auto", "on", "off"), "xla must be auto, on or off"),
            ("distribute", self.distribute in ("auto", "default", "mirrored", "multi_worker"),
             "distribute must be auto, default, mirrored or multi_worker"),
            ("checkpoint_every", self.checkpoint_every >= 1, "checkpoint_every must be >= 1"),
            ("sample_every", self.sample_every >= 1, "sample_every must be >= 1"),
            ("held_out", self.held_out is None or os.path.isdir(os.path.join(self.held_out, "photos")),
             f"held_out must be a folder with a photos/ subfolder, not {self.held_out!r}"),
            ("vgg_weights", self.vgg_weights in ("imagenet", "random") or os.path.isfile(self.vgg_weights),
             f"vgg_weights must be imagenet, random or an existing file, not {self.vgg_weights!r}"),
            ("content_features", self.content_features in CONTENT_FEATURE_KINDS,
             f"content_features must be one of {', '.join(CONTENT_FEATURE_KINDS)}"),
            ("discriminator_norm", self.discriminator_norm in DISCRIMINATOR_NORMS,
             f"discriminator_norm must be one of {', '.join(DISCRIMINATOR_NORMS)}"),
            *((name, getattr(self, name) in choices, f"{name} must be {' or '.join(choices)}, not {getattr(self, name)!r}")
              for name, choices in (("photo_path", ON_OFF), ("lr_decay", LR_DECAYS), ("ink_path", INK_PATHS),
                                    ("colour_level", COLOUR_LEVELS), ("line_photo_path", ON_OFF))),
            ("photo_path_gain", isinstance(self.photo_path_gain, int) and not isinstance(self.photo_path_gain, bool)
             and PHOTO_PATH_GAIN_BOUNDS[0] <= self.photo_path_gain <= PHOTO_PATH_GAIN_BOUNDS[1],
             "photo_path_gain must be an integer from {} to {}, not {!r}".format(*PHOTO_PATH_GAIN_BOUNDS, self.photo_path_gain)),
            *((name, is_median_window(getattr(self, name)),
               f"{name} must be 0, {', '.join(map(str, MEDIAN_SIZES[:-1]))} or {MEDIAN_SIZES[-1]}, not {getattr(self, name)!r}")
              for name in ("photo_path_median", "content_median")),
        ]
        for field, ok, message in checks:
            if not ok:
                raise ConfigError(field, message)
        check_generator_config(self.generator, self.generator_config)
        if not self.init_from:  # a fine-tune's generator is its preset's: resolve_config checks that one
            multiple, minimum = input_sizes(GENERATOR_CLASSES[self.generator], self.generator_config)
            if self.image_size % multiple or self.image_size < minimum:
                raise ConfigError("image_size", f"image_size {self.image_size}: the {self.generator} generator"
                                  f"{' ' + json.dumps(self.generator_config) if self.generator_config else ''} "
                                  f"takes multiples of {multiple}, at least {max(minimum, 16)}")
        if not has_photo_path(self.generator):
            self.photo_path = "off"  # what the run trains: this family has no photo path
        if self.photo_path == "off":
            self.ink_path = "off"  # it comes with the photo path

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, allow_nan=False) + "\n"

    def check_resumable_from(self, previous, source="config.json"):
        """Raises ParameterError (naming the field) if `previous` (a dict from config.json,
        read from `source`) trained something else, or holds a value no run can have."""
        for key in _RESUME_KEYS:
            before = previous.get(key, _RESUME_LEGACY.get(key, getattr(self, key)))
            if key == "generator" and isinstance(before, str):
                before = canonical_generator(before)  # older runs stored an older name of the family
            if key == "ink_path":
                before = canonical_ink_path(before)  # older runs stored "on" for thin lines
            if key in ("photo_path", "ink_path") and not has_photo_path(self.generator):
                continue  # built without it whatever was recorded (older runs recorded "on")
            if key == "lr_decay" and self.warmup_steps and previous.get("warmup_steps", _RESUME_LEGACY["warmup_steps"]):
                continue  # with a warm-up the rate is a schedule either way: the same checkpoint
            if key == "precision" and before in PRECISIONS and (before == "float16") == (self.precision == "float16"):
                continue  # float32 and bfloat16 checkpoints are alike (float32 variables); float16 adds loss scaling
            if (key in ("photo_path_gain", "photo_path_median")
                    and "off" in (self.photo_path, previous.get("photo_path", _RESUME_LEGACY["photo_path"]))):
                continue  # without the path none of its parameters is built
            if (bool(before) != bool(getattr(self, key))) if key in _RESUME_SWITCHES else before != getattr(self, key):
                invalid = _invalid_value(self, key, before)
                if invalid:  # advising to pass it would only fail again
                    raise ParameterError(
                        key, "{source} holds {key}={before!r}, which no run can have ({invalid}): the file was edited "
                        "or damaged; restore it, or use another {names[workdir]}", source=source, key=key,
                        before=before, invalid=invalid)
                raise ParameterError(
                    key, "{workdir} holds a run with {key}={before!r}, not {now!r}: use another {names[workdir]} "
                    "or the same value ({name} {before_text}) to resume", workdir=self.workdir, key=key,
                    before=before, now=getattr(self, key), before_text=json.dumps(before) if isinstance(before, dict) else before)


def _invalid_value(config, key, value):
    """Why `value` cannot be `config`'s `key` (the check's message), or None when it can."""
    try:
        dataclasses.replace(config, **{key: value})
    except ParameterError as error:  # ConfigError among them
        return str(error) if error.field == key else None
    except (TypeError, ValueError) as error:
        return str(error)
    return None


def check_generator_config(generator, overrides):
    """Raises ConfigError with the reason unless `overrides` are constructor parameters of the
    `generator` family with integer values within the bounds presets are checked against, so
    that a run never trains to find its preset refused."""
    if not isinstance(overrides, dict):
        raise ConfigError("generator_config", f"generator_config must be a JSON object, not {type(overrides).__name__}")
    bounds = GENERATOR_BOUNDS[GENERATOR_CLASSES[generator]]
    known = [p for p in bounds if p not in _SET_BY_OPTIONS]
    for key, value in overrides.items():
        if key not in known:
            raise ConfigError("generator_config", f"generator_config: unknown parameter {key!r} of the {generator} generator "
                             f"(known: {', '.join(known)})")
        low, high = bounds[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError("generator_config", f"generator_config: {key} must be an integer, not {value!r}")
        if not low <= value <= high:
            raise ConfigError("generator_config", f"generator_config: {key}={value} is outside {low}..{high}")
