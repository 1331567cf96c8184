"""cartoongan-distill: train a small, fast generator to reproduce a pretrained style.

    cartoongan-distill --workdir /tmp/distill --teacher hayao --photos ../shared/data/photos/train \\
        --eval-photos ../shared/data/eval/animegan_comparison/photos \\
        --generator-config '{"filters": 24, "num_residual_blocks": 4}' --steps 4000 --output pretrained/hayao_lite

Runs `cartoongan.training.distill`: teacher targets (crops, or whole photos with --long-side)
in WORKDIR/data; the student trained by Keras' fit in WORKDIR/train (metrics.csv; the same
command resumes from the last backup, or continues to a larger --steps); its PSNR against the
teacher; the preset copied to --output. Once the targets exist (the teacher needs TensorFlow),
the student stage runs under any Keras backend (KERAS_BACKEND=jax)."""

import argparse
import json
import os
import sys


def build_parser():
    parser = argparse.ArgumentParser(prog="cartoongan-distill", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--workdir", required=True, help="teacher targets (data/), training backup, metrics and preset (train/)")
    add("--teacher", default="hayao", help="style name or preset directory to distil (default: hayao)")
    add("--photos", nargs="+", required=True, metavar="DIR", help="training photo folders (recursive)")
    add("--eval-photos", metavar="DIR", help="held-out photos: PSNR against the teacher")
    add("--crop-size", type=int, default=192, help="side of the teacher crops; with --long-side, the least short side")
    add("--crops-per-image", type=int, default=1, help="teacher crops per photo (without --long-side)")
    add("--long-side", type=int, metavar="PX", help="targets on whole photos downscaled to this long side, trained whole")
    add("--teacher-precision", default="auto", help="precision of the teacher targets (default: auto)")
    add("--generator", default="CartoonGanGenerator", help="student class (cartoongan.models.GENERATORS)")
    add("--generator-config", type=json.loads, default={"filters": 24, "num_residual_blocks": 4}, metavar="JSON")
    init = parser.add_mutually_exclusive_group()
    init.add_argument("--init-from", metavar="STYLE_OR_PRESET", help="initialise the student from this generator, "
                      "e.g. an earlier student (default: the teacher's sliced weights)")
    init.add_argument("--no-teacher-init", action="store_true", help="random init instead of the teacher's weights")
    add("--steps", type=int, default=4000)
    add("--batch-size", type=int, default=8)
    add("--learning-rate", type=float, default=5e-4, help="peak; cosine decay to --final-learning-rate")
    add("--final-learning-rate", type=float, help="default: a tenth of --learning-rate")
    add("--warmup-steps", type=int, default=0, help="linear learning-rate warm-up (hayao_lite stage 2: 100)")
    add("--gradient-weight", type=float, default=0.0, help="weight of an L1 loss on image gradients")
    add("--epoch-steps", type=int, default=50, help="steps between metric rows and backups")
    add("--eval-every", type=int, default=500, help="steps between held-out evaluations")
    add("--xla", action="store_true", help="XLA-compile the train step (default: Keras' choice)")
    add("--train-precision", choices=("float32", "bfloat16"), default="float32",
        help="precision of the student's convolutions while training (weights stay float32)")
    add("--seed", type=int, default=0)
    add("--name", default="student", help="preset name recorded in config.json")
    add("--output", help="copy the final preset here")
    add("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from cartoongan.cli.flags import flag_name
    from cartoongan.errors import ParameterError
    from cartoongan.training.distill_config import DistillConfig

    fields = {key: value for key, value in vars(args).items() if key not in ("no_teacher_init", "xla", "verbose")}
    if args.init_from is None and not args.no_teacher_init and args.generator == "CartoonGanGenerator":
        fields["init_from"] = args.teacher
    try:
        config = DistillConfig(**fields, xla="on" if args.xla else "auto")
        if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
            from cartoongan.tf_runtime import import_tensorflow

            import_tensorflow(args.verbose)
        from cartoongan.training.distill import distill

        result = distill(config)
    except ParameterError as error:
        print(f"error: {error.explain(flag_name)}", file=sys.stderr)
        return 2
    except ValueError as error:  # a preset, photo folder or workdir that cannot be used
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"mean_psnr": result["mean_psnr"] and round(result["mean_psnr"], 3)}))
    print(f"preset written to {result['output'] or result['preset']}")
    return 0
