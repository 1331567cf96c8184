"""train: train or fine-tune a CartoonGAN generator on TFRecords from build_tfrecords.

    python tools/train.py --data data/tfrecords --workdir runs/hayao-ft --init-from hayao --steps 2000

Re-running the same command resumes from the last checkpoint in --workdir (step, both
networks and both optimizers); --steps can be raised to train further.
"""

import argparse
import os
import sys

from cartoongan.cli.flags import add_config_flags, flag_name, usage_error
from cartoongan.presets import ENVIRONMENT  # --init-from may be a style to fetch


def build_parser():
    from cartoongan.training.config import STEP_COST, TrainConfig  # TensorFlow-free: the options and their help

    parser = argparse.ArgumentParser(
        prog="cartoongan-train",
        description="Train or fine-tune a CartoonGAN generator. Re-run the same command to resume.",
        epilog="Example: train.py --data tfrecords/ --workdir runs/ft --init-from hayao --init-steps 0 --steps 2000\n\n"
               + STEP_COST + "\n\n" + ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_flags(parser, TrainConfig)
    parser.add_argument("--dry-run", action="store_true", help="validate the options, print the resolved config and exit")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def main(argv=None):
    from cartoongan.tf_runtime import import_tensorflow
    from cartoongan.weights.download import DownloadError

    parser = build_parser()
    args = parser.parse_args(argv)
    from cartoongan.training.resolve import check_workdir, resolve_config

    if not os.path.isdir(args.workdir):  # a file, or under one: said at once, not after TensorFlow's import
        try:
            check_workdir(args.workdir)
        except ValueError as error:
            usage_error(parser, error)
    import_tensorflow(args.verbose)  # first: checking --data and --vgg-weights loads it

    given = {key: value for key, value in vars(args).items() if value is not None and key not in ("dry_run", "verbose")}
    try:
        config = resolve_config(**given)
    except DownloadError as error:
        print(f"error: --init-from {args.init_from}: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # PresetError and the workdir's other run among them
        usage_error(parser, error)
    if args.dry_run:
        print(config.to_json(), end="")
        return 0

    print(f"building the models ({config.generator} generator{', from ' + config.init_from if config.init_from else ''}) "
          f"and the input pipeline; the first step then traces", file=sys.stderr, flush=True)
    from cartoongan.losses import VggWeightsError
    from cartoongan.training.resolve import remove_unused_workdir
    from cartoongan.training.resume import ResumeError
    from cartoongan.training.trainer import CheckpointError, DataError, Trainer, TrainingDiverged

    existed = os.path.exists(config.workdir)
    try:
        trainer = Trainer(config)
        ran = trainer.fit()
    except DataError as error:  # found at the first batch, once the run has opened its workdir
        removed = remove_unused_workdir(config.workdir, existed)
        print(f"error: {error}" + (f" ({config.workdir}, created by this run, was removed)" if removed else ""),
              file=sys.stderr)
        return 1
    except (TrainingDiverged, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (VggWeightsError, ResumeError) as error:  # the ImageNet download; a checkpoint config.json cannot hold
        print(f"error: {error.explain(flag_name)}", file=sys.stderr)
        return 2
    step = int(trainer.step.numpy())
    preset = os.path.join(config.workdir, "preset")
    where = f"preset: {preset}" if os.path.isfile(os.path.join(preset, "config.json")) else "no preset written (nothing trained)"
    print(f"ran {ran} steps; at step {step} of {config.steps}; {where}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
