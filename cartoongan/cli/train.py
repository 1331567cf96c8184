"""train: train or fine-tune a CartoonGAN generator on TFRecords from build_tfrecords.

    python tools/train.py --data data/tfrecords --workdir runs/hayao-ft --init-from hayao --steps 2000

Re-running the same command resumes from the last checkpoint in --workdir (step, both
networks and both optimizers); --steps can be raised to train further.
"""

import argparse
import dataclasses
import json
import os
import sys

from cartoongan.training.config import FINE_TUNE_GENERATOR_LR, SCRATCH_GENERATOR_LR  # noqa: F401

STEP_COST = """\
what a step costs: a GAN step at the defaults (full generator, 256 px crops, batch 8,
VGG19 content loss) takes about 70 s on a 2-core CPU (reported in issue 16) and, by its
FLOPs, well under a second on one current GPU (an estimate: no GPU was at hand).
Fine-tuning hayao_lite at 64 px, batch 4 takes about 0.6 s a step on that CPU (measured).
The first step of each phase traces the step function first (tens of seconds; minutes
with XLA): the progress bar says so while it happens."""


def _json_object(text):
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object like '{{\"filters\": 32}}', got {text!r}")
    return value


def _reject_constant(constant):
    raise ValueError(f"{constant} is not allowed")


def build_parser():
    from cartoongan.training.config import (
        ADVERSARIAL_LOSS_KINDS,
        CONTENT_FEATURE_KINDS,
        DISCRIMINATOR_NORMS,
        TrainConfig,
    )

    defaults = TrainConfig(data="", workdir="", vgg_weights="random")
    parser = argparse.ArgumentParser(
        prog="cartoongan-train",
        description="Train or fine-tune a CartoonGAN generator. Re-run the same command to resume.",
        epilog="Example: train.py --data tfrecords/ --workdir runs/ft --init-from hayao --init-steps 0 --steps 2000\n\n"
               + STEP_COST,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", required=True, help="folder written by build_tfrecords.py")
    parser.add_argument("--workdir", required=True, help="checkpoints, metrics.jsonl, TensorBoard logs and preset/")
    parser.add_argument("--generator", choices=("full", "light"), default=None,
                        help="architecture when training from scratch (default: full); with --init-from it is the preset's")
    parser.add_argument("--generator-config", type=_json_object, default={}, metavar="JSON",
                        help='constructor overrides, e.g. \'{"filters": 32, "num_residual_blocks": 4}\' (default: none)')
    parser.add_argument("--init-from", metavar="STYLE_OR_PRESET",
                        help="start the generator from a style or preset (fine-tuning; default: from scratch)")
    parser.add_argument("--init-steps", type=int, default=defaults.init_steps,
                        help="content-only initialization steps (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=defaults.steps,
                        help="all steps, initialization included (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="global batch size (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=defaults.image_size, help="training crop size (default: %(default)s)")
    parser.add_argument("--vgg-weights", default="imagenet", metavar="imagenet|random|PATH",
                        help="VGG19 weights of the content loss: imagenet (Keras downloads them once), a VGG19 "
                             "notop .h5 file, or random (default: %(default)s)")
    parser.add_argument("--content-features", choices=CONTENT_FEATURE_KINDS, default=defaults.content_features,
                        help="features of the content loss: vgg (VGG19 block4_conv4, the paper's), encoder (the "
                             "shipped hayao_lite generator's encoder, an offline stand-in), auto: vgg unless "
                             "--vgg-weights is random, then encoder (default: %(default)s)")
    parser.add_argument("--adversarial-loss", choices=ADVERSARIAL_LOSS_KINDS, default=defaults.adversarial_loss,
                        help="(default: %(default)s)")
    parser.add_argument("--content-weight", type=float, default=defaults.content_weight,
                        help="weight of the content loss against the adversarial one (default: %(default)s)")
    parser.add_argument("--checkerboard-weight", type=float, default=defaults.checkerboard_weight,
                        help="weight of the excess of the outputs' checkerboard response (2x2 alternating kernel) "
                             "over the photos': keeps transposed-convolution artefacts out (default: %(default)s)")
    parser.add_argument("--edge-weight", type=float, default=defaults.edge_weight,
                        help="weight of the edge-smoothed anime images, shown to the discriminator as fakes "
                             "(the paper's edge-promoting loss; default: %(default)s)")
    parser.add_argument("--generator-lr", type=float, default=None,
                        help=f"Adam learning rate of the generator (default: {SCRATCH_GENERATOR_LR:g}, or "
                             f"{FINE_TUNE_GENERATOR_LR:g} with --init-from)")
    parser.add_argument("--discriminator-lr", type=float, default=defaults.discriminator_lr,
                        help="Adam learning rate of the discriminator (default: %(default)s)")
    parser.add_argument("--discriminator-norm", choices=DISCRIMINATOR_NORMS, default=defaults.discriminator_norm,
                        help="normalization in the discriminator: instance (the paper's) hides the image-wide "
                             "statistics a style is made of (default: %(default)s)")
    parser.add_argument("--precision", choices=("float32", "bfloat16", "float16"), default=defaults.precision,
                        help="mixed precision of the convolutions (default: %(default)s)")
    parser.add_argument("--xla", choices=("auto", "on", "off"), default=defaults.xla,
                        help="XLA-compile the train step (auto: on with a GPU; default: %(default)s)")
    parser.add_argument("--distribute", choices=("auto", "default", "mirrored", "multi_worker"), default=defaults.distribute,
                        help="tf.distribute strategy (auto: multi_worker if TF_CONFIG names workers, mirrored with "
                             "several GPUs; default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="(default: %(default)s)")
    parser.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every,
                        help="steps between checkpoints and preset updates (default: %(default)s)")
    parser.add_argument("--sample-every", type=int, default=defaults.sample_every,
                        help="steps between TensorBoard sample images, also written at the start (default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="validate the options, print the resolved config and exit")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def resolve_config(args):
    """argparse namespace -> TrainConfig, or ValueError with a message for the user."""
    from cartoongan.data.pipeline import check_data_dir
    from cartoongan.presets import check_preset_name, read_preset_config, resolve_preset
    from cartoongan.training.config import GENERATOR_CLASSES, TrainConfig

    options = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    check_data_dir(args.data)
    if args.vgg_weights not in ("imagenet", "random") and os.path.isfile(args.vgg_weights):
        from cartoongan.losses import check_vgg19_weights_file

        check_vgg19_weights_file(args.vgg_weights)
    if args.init_from:
        check_preset_name(args.init_from)
        class_name = read_preset_config(resolve_preset(args.init_from))["generator"]["class_name"]
        kind = {v: k for k, v in GENERATOR_CLASSES.items()}.get(class_name)
        if args.generator and args.generator != kind:
            raise ValueError(f"--generator {args.generator} contradicts --init-from {args.init_from} ({class_name})")
        if args.generator_config:
            raise ValueError("--generator-config cannot change a pretrained generator given by --init-from")
        options["generator"] = kind
    else:
        options["generator"] = args.generator or "full"
    return TrainConfig(**options)


def main(argv=None):
    from cartoongan.cli.flags import flag_name
    from cartoongan.errors import ParameterError
    from cartoongan.tf_runtime import import_tensorflow
    from cartoongan.weights.download import DownloadError

    parser = build_parser()
    args = parser.parse_args(argv)
    import_tensorflow(args.verbose)  # first: checking --data and --vgg-weights loads it
    try:
        config = resolve_config(args)
        previous = os.path.join(config.workdir, "config.json")
        if os.path.exists(previous):
            with open(previous) as f:
                config.check_resumable_from(json.load(f))
    except ParameterError as error:  # a TrainConfig value: named by its flag
        parser.error(error.explain(flag_name))
    except ValueError as error:  # PresetError among them
        parser.error(str(error))
    except DownloadError as error:
        print(f"error: --init-from {args.init_from}: {error}", file=sys.stderr)
        return 1
    if args.dry_run:
        print(config.to_json(), end="")
        return 0

    print(f"building the models ({config.generator} generator{', from ' + config.init_from if config.init_from else ''}) "
          f"and the input pipeline; the first step then traces", file=sys.stderr, flush=True)
    from cartoongan.losses import VggWeightsError
    from cartoongan.training.trainer import CheckpointError, DataError, Trainer, TrainingDiverged

    try:
        trainer = Trainer(config)
        ran = trainer.fit()
    except (TrainingDiverged, DataError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except VggWeightsError as error:  # the ImageNet download, when the models are built
        print(f"error: {error.explain(flag_name)}", file=sys.stderr)
        return 2
    step = int(trainer.step.numpy())
    preset = os.path.join(config.workdir, "preset")
    where = f"preset: {preset}" if os.path.isfile(os.path.join(preset, "config.json")) else "no preset written (nothing trained)"
    print(f"ran {ran} steps; at step {step} of {config.steps}; {where}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
