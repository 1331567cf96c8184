"""cartoongan-distill: train a small, fast generator to reproduce a pretrained style.

    cartoongan-distill --workdir /tmp/distill --teacher hayao --photos ../shared/data/photos/train \\
        --eval-photos ../shared/data/eval/animegan_comparison/photos \\
        --generator-config '{"filters": 24, "num_residual_blocks": 4}' --steps 4000 --output pretrained/hayao_lite

The stages and what each leaves in WORKDIR: `cartoongan.training.distill` (the student's runs
under any KERAS_BACKEND). The same command resumes a stopped run, or continues it to a larger --steps."""

import argparse
import dataclasses
import json
import os
import sys

from cartoongan.cli.flags import add_config_flags
from cartoongan.presets import ENVIRONMENT  # the teacher or --init-from may be a style to fetch

TEACHER_INIT = "the teacher's sliced weights; random for another --generator"


def build_parser():
    from cartoongan.training.distill_config import DistillConfig  # TensorFlow-free: the options and their help

    parser = argparse.ArgumentParser(prog="cartoongan-distill", description=__doc__.split("\n\n")[0],
                                     epilog=ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter)
    init = parser.add_mutually_exclusive_group()
    add_config_flags(parser, DistillConfig, defaults={"init_from": (None, TEACHER_INIT)}, into={"init_from": init})
    init.add_argument("--no-teacher-init", action="store_true", help="random init instead of the teacher's weights")
    parser.add_argument("--xla", action="store_true", help="XLA-compile the train step (default: Keras' choice)")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from cartoongan.cli.flags import flag_name
    from cartoongan.errors import ParameterError
    from cartoongan.training.distill_config import DistillConfig

    given = {key: value for key, value in vars(args).items()
             if value is not None and key not in ("no_teacher_init", "xla", "verbose")}
    try:
        config = DistillConfig(**given, xla="on" if args.xla else "auto")
        if config.init_from is None and not args.no_teacher_init and config.generator == "CartoonGanGenerator":
            config = dataclasses.replace(config, init_from=config.teacher)
        if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
            from cartoongan.tf_runtime import import_tensorflow

            import_tensorflow(args.verbose)
        from cartoongan.training.distill import distill

        result = distill(config)
    except ParameterError as error:
        print(f"error: {error.explain(flag_name)}", file=sys.stderr)
        return 2
    except (ValueError, RuntimeError) as error:  # unusable preset, photos, workdir or backup; a DownloadError
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"mean_psnr": result["mean_psnr"] and round(result["mean_psnr"], 3)}))
    print(f"preset written to {result['output'] or result['preset']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
