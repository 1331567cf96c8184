"""distill: train a small, fast generator to reproduce a pretrained style.

    python tools/distill.py --workdir /tmp/distill --teacher hayao \\
        --photos ../shared/data/photos/train --eval-photos ../shared/data/eval/animegan_comparison/photos \\
        --generator-config '{"filters": 24, "num_residual_blocks": 4}' --steps 4000 --output pretrained/hayao_lite

Runs the three steps of `cartoongan.training.distill`: teacher targets on random crops, or
with --long-side on whole downscaled photos (shards under WORKDIR/data), student training
(checkpoints under WORKDIR/train; re-running the same command resumes), evaluation against the teacher; then copies the student preset
to --output. Every step skips what is already done.
"""

import argparse
import json
import os
import shutil
import sys


def build_parser():
    parser = argparse.ArgumentParser(prog="cartoongan-distill", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True, help="teacher shards (data/), checkpoints and metrics (train/)")
    parser.add_argument("--teacher", default="hayao", help="style name or preset directory to distil (default: hayao)")
    parser.add_argument("--photos", nargs="+", required=True, metavar="DIR", help="training photo folders (recursive)")
    parser.add_argument("--eval-photos", metavar="DIR", help="held-out photos: PSNR against the teacher")
    parser.add_argument("--crop-size", type=int, default=192,
                        help="side of the square teacher crops; with --long-side, the smallest short side")
    parser.add_argument("--crops-per-image", type=int, default=1, help="teacher crops per photo (without --long-side)")
    parser.add_argument("--long-side", type=int, metavar="PX",
                        help="run the teacher on whole photos downscaled to this long side and train on them whole")
    parser.add_argument("--teacher-precision", default="auto", help="precision of the teacher targets (default: auto)")
    parser.add_argument("--generator", default="CartoonGanGenerator", help="student class (cartoongan.models.GENERATORS)")
    parser.add_argument("--generator-config", type=json.loads, default={"filters": 24, "num_residual_blocks": 4}, metavar="JSON")
    parser.add_argument("--init-from", metavar="STYLE_OR_PRESET",
                        help="initialise the student from this generator, e.g. an earlier student (default: the teacher)")
    parser.add_argument("--no-teacher-init", action="store_true", help="random init instead of the teacher's sliced weights")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--warmup-steps", type=int, default=0,
                        help="linear learning-rate warm-up (hayao_lite stage 2 used 100 from a trained student)")
    parser.add_argument("--gradient-weight", type=float, default=0.0)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--xla", action="store_true", help="XLA-compile the train step")
    parser.add_argument("--train-precision", choices=("float32", "bfloat16"), default="float32",
                        help="precision of the student's convolutions while training (weights stay float32)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="student", help="preset name recorded in config.json")
    parser.add_argument("--output", help="copy the final preset here")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up messages")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from cartoongan.cli.quiet import import_tensorflow
    from cartoongan.presets import check_preset_name, check_preset_name_value

    import_tensorflow(args.verbose)
    from cartoongan.training import distill

    data_dir = os.path.join(args.workdir, "data")
    try:
        check_preset_name_value(args.name, "--name")
        check_preset_name(args.teacher)
        if args.init_from:
            check_preset_name(args.init_from)
            if args.no_teacher_init or args.generator != "CartoonGanGenerator":
                raise ValueError("--init-from needs a CartoonGanGenerator student and no --no-teacher-init")
        if args.long_side is not None and not 0 < args.crop_size <= args.long_side:
            raise ValueError(f"--crop-size ({args.crop_size}) must be positive and at most --long-side ({args.long_side})")
        # A data folder made with other flags is refused here too, before any teacher work.
        distill.precompute_teacher_targets(args.teacher, args.photos, data_dir, crop_size=args.crop_size,
                                           crops_per_image=args.crops_per_image, long_side=args.long_side,
                                           precision=args.teacher_precision, seed=args.seed)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    eval_photos = None
    if args.eval_photos:
        paths = distill.list_photos([args.eval_photos])
        eval_photos = distill.teacher_references(paths, args.teacher, os.path.join(args.workdir, "eval_teacher.npz"))
    init_from = None
    if args.generator == "CartoonGanGenerator" and not args.no_teacher_init:
        init_from = args.init_from or args.teacher
    preset = distill.train_student(
        data_dir, os.path.join(args.workdir, "train"), args.generator, args.generator_config, steps=args.steps,
        batch_size=args.batch_size, crop_size=None if args.long_side else args.crop_size,
        learning_rate=args.learning_rate, warmup_steps=args.warmup_steps, gradient_weight=args.gradient_weight,
        init_from=init_from, eval_photos=eval_photos, eval_every=args.eval_every,
        jit_compile=args.xla, dtype="mixed_bfloat16" if args.train_precision == "bfloat16" else None, seed=args.seed, preset_name=args.name,
        preset_metadata={"distilled_from": str(args.teacher)})
    if args.eval_photos:
        result = distill.evaluate_against_teacher(str(preset), args.eval_photos, args.teacher,
                                                  cache=os.path.join(args.workdir, "eval_teacher.npz"))
        print(json.dumps({"mean_psnr": round(result["mean_psnr"], 3)}))
    if args.output:
        from cartoongan.atomic import atomic_directory

        with atomic_directory(args.output) as partial:
            shutil.copytree(preset, partial, dirs_exist_ok=True)
        print(f"preset written to {args.output}")
    return 0
