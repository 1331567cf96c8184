"""Distillation: teacher targets, the fit-based student stage, its config, its CLI.

The kill/resume test and the JAX run are in test_distill_resume.py and test_distill_jax.py."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from cartoongan import Cartoonizer
from cartoongan.data import teacher_targets
from cartoongan.errors import ParameterError
from cartoongan.evaluation import evaluate
from cartoongan.presets import load_preset, read_preset_config
from cartoongan.training import distill
from cartoongan.training.distill_config import DistillConfig
from cartoongan.training.student import build_student, init_from_generator

TINY_STUDENT = {"filters": 4, "num_residual_blocks": 1}


def _photos(folder, count=5):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        # Smooth synthetic "photos": low-frequency colour fields, upsampled.
        small = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
        Image.fromarray(small).resize((40 + 4 * i, 48), Image.BILINEAR).save(folder / f"p{i}.png")
    return folder


def tiny_config(tmp_path, teacher, **overrides):
    """A run of a few one-step epochs on the photos in tmp_path/photos (made if absent)."""
    if not (tmp_path / "photos").exists():
        _photos(tmp_path / "photos")
    fields = dict(workdir=str(tmp_path / "work"), photos=[str(tmp_path / "photos")], teacher=str(teacher),
                  crop_size=24, teacher_precision="float32", generator_config=TINY_STUDENT, init_from=str(teacher),
                  steps=4, batch_size=2, epoch_steps=1, eval_every=2)
    return DistillConfig(**{**fields, **overrides})


def test_teacher_targets_are_written_once_and_reused(tmp_path, tiny_preset):
    photos = _photos(tmp_path / "photos")
    data = tmp_path / "data"
    shards = teacher_targets.precompute_teacher_targets(tiny_preset, [photos], data, crop_size=32, crops_per_image=2,
                                                        shard_size=4, batch_size=4, precision="float32", progress=None)
    assert len(shards) == 3  # 5 photos x 2 crops, 4 crops a shard
    with np.load(shards[0]) as shard:
        assert shard["photos"].shape == shard["targets"].shape == (4, 32, 32, 3)
        assert shard["targets"].dtype == np.uint8
        teacher = Cartoonizer.from_pretrained(tiny_preset, precision="float32")
        np.testing.assert_array_equal(shard["targets"][0], teacher(shard["photos"][0]))
    # Every shard is found done and kept.
    recipe = teacher_targets.read_recipe(data)
    assert teacher_targets.precompute_teacher_targets(tiny_preset, [photos], data, crop_size=32, crops_per_image=2,
                                                      shard_size=4, precision="float32", progress=None) == shards
    assert teacher_targets.read_recipe(data) == recipe


def test_distill_trains_scores_and_writes_a_preset_the_cartoonizer_loads(tmp_path, tiny_preset):
    config = tiny_config(tmp_path, tiny_preset, eval_photos=str(tmp_path / "photos"), name="tiny_student",
                         output=str(tmp_path / "out"))
    logs = []
    result = distill.distill(config, log=logs.append)
    rows = distill.read_metrics(config.train_dir)
    # One row per one-step epoch; held-out PSNR at every second step and never in between.
    assert [row["step"] for row in rows] == [1, 2, 3, 4]
    assert [math.isnan(row["val_psnr"]) for row in rows] == [True, False, True, False]
    assert all(np.isfinite(row["loss"]) for row in rows)
    assert result["mean_psnr"] == pytest.approx(rows[-1]["val_psnr"])  # the final preset is the last step
    assert any("initialised 38 of 38 weights" in line for line in logs)

    saved = json.loads((tmp_path / "work" / "config.json").read_text())
    assert saved["steps"] == 4 and saved["final_learning_rate"] == pytest.approx(5e-5)
    preset = read_preset_config(tmp_path / "out")
    assert preset["preprocessing"]["channel_order"] == "RGB"
    assert preset["name"] == "tiny_student" and preset["trained_steps"] == 4
    assert preset["distilled_from"] == preset["init_from"] == str(tiny_preset)
    assert preset["training"]["teacher_data"] == teacher_targets.read_recipe(config.data_dir)
    assert preset["description"] and preset["license"]

    cartoonizer = Cartoonizer.from_pretrained(str(tmp_path / "out"), precision="float32")
    image = np.random.default_rng(1).integers(0, 256, (30, 26, 3), dtype=np.uint8)
    output = cartoonizer(image)
    assert output.dtype == np.uint8 and output.shape == image.shape

    # The evaluation's numpy path scores the preset as the TensorFlow Cartoonizer would, up to
    # float rounding (a pixel that rounds the other way: 2e-5 dB measured).
    names, photos, references = teacher_targets.read_references(config.references_path)
    through_cartoonizer = evaluate(cartoonizer, photos, references, names)["mean_psnr"]
    assert result["mean_psnr"] == pytest.approx(through_cartoonizer, abs=1e-3)

    # The same command again: the run is done, nothing trains, the same preset comes out.
    logs.clear()
    assert distill.distill(config, log=logs.append)["mean_psnr"] == result["mean_psnr"]
    assert len(distill.read_metrics(config.train_dir)) == 4
    assert not any(line.startswith("{") for line in logs)
    # Another batch size in this workdir: refused before any work.
    with pytest.raises(ParameterError, match="holds a run made with 2, not 3"):
        distill.distill(tiny_config(tmp_path, tiny_preset, batch_size=3), log=logs.append)


def test_a_v3_student_trains_on_crops_its_stride_does_not_divide_and_its_preset_takes_any_size(tmp_path,
                                                                                                 tiny_preset):
    """A tiny-layout AnimeGANv3 student (stride 16, min_size 32) from random weights, on 24px
    crops (padded to 32 for it, cropped back by the loss) and scored on the 40-52 x 48 held-out
    photos (padded to 64 x 48): two steps train, and its preset records the stride and min_size,
    so the Cartoonizer takes a 42x23 photo."""
    config = tiny_config(tmp_path, tiny_preset, generator="AnimeGanV3Generator",
                         generator_config={"filters": 4, "tiny_layout": 1}, init_from=None, steps=2,
                         eval_photos=str(tmp_path / "photos"))
    distill.distill(config, log=lambda *_: None)
    assert all(np.isfinite(row["loss"]) for row in distill.read_metrics(config.train_dir))
    assert np.isfinite(distill.read_metrics(config.train_dir)[-1]["val_psnr"])
    preset = f"{config.train_dir}/preset"
    assert read_preset_config(preset)["preprocessing"] == {"channel_order": "RGB", "size_multiple": 16, "min_size": 32}
    photo = np.random.default_rng(0).integers(0, 256, (23, 42, 3), dtype=np.uint8)
    assert Cartoonizer.from_pretrained(preset, precision="float32")(photo).shape == (23, 42, 3)


@pytest.mark.slow
def test_whole_photo_targets_are_the_teacher_on_the_whole_photo(tmp_path, tiny_preset):
    photos = _photos(tmp_path / "photos", count=3)
    wide = np.random.default_rng(5).integers(0, 256, (3, 9, 3), dtype=np.uint8)
    Image.fromarray(wide).resize((90, 30), Image.BILINEAR).save(photos / "wide.png")
    shards = teacher_targets.precompute_teacher_targets(tiny_preset, [photos], tmp_path / "data", crop_size=24,
                                                        long_side=36, shard_size=2, precision="float32", progress=None)
    assert len(shards) == 2
    pairs = list(zip(*teacher_targets.load_shards(tmp_path / "data")))
    sizes = sorted(photo.shape[:2] for photo, _ in pairs)
    # Long side 36; the 3:1 photo stops shrinking where its short side reaches the 24px crop.
    assert sizes == [(24, 72), (36, 30), (36, 33), (36, 36)]
    teacher = Cartoonizer.from_pretrained(tiny_preset, precision="float32")
    for photo, target in pairs:
        np.testing.assert_array_equal(target, teacher(photo))

    # Whole pairs of four sizes, none a multiple of the stride but 36x36, train as they infer
    # (TensorFlow's input signature stays open to every size).
    config = tiny_config(tmp_path, tiny_preset, long_side=36, steps=6, epoch_steps=2, eval_every=2)
    distill.distill(config, log=lambda *_: None)
    assert [row["step"] for row in distill.read_metrics(config.train_dir)] == [2, 4, 6]
    assert read_preset_config(f"{config.train_dir}/preset")["training"]["crop_size"] is None


def test_whole_batches_hold_pairs_of_one_size_unchanged():
    rng = np.random.default_rng(0)
    shapes = [(8, 12, 3)] * 5 + [(12, 8, 3)] * 2 + [(10, 10, 3)]
    photos = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in shapes]
    targets = [255 - photo for photo in photos]
    seen = set()
    for _ in range(60):
        batch_photos, batch_targets = distill.random_batch(photos, targets, 4, None, rng)
        # As many as the size allows (at most 4), all distinct, each with its own target.
        assert len(batch_photos) == min(4, shapes.count(batch_photos.shape[1:]))
        indices = [next(i for i, photo in enumerate(photos) if np.array_equal(photo, p)) for p in batch_photos]
        assert len(set(indices)) == len(indices)
        np.testing.assert_array_equal(batch_targets, 255 - batch_photos)
        seen.update(indices)
    assert seen == set(range(len(photos)))


def test_crops_cut_the_same_window_from_photo_and_target():
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), rng.integers(0, 256, (26, 26, 3), dtype=np.uint8)]
    targets = [255 - photo for photo in photos]
    batch_photos, batch_targets = distill.random_batch(photos, targets, 16, 24, rng)
    assert batch_photos.shape == batch_targets.shape == (16, 24, 24, 3)
    np.testing.assert_array_equal(batch_targets, 255 - batch_photos)
    assert all(any(_has_window(photo, crop) for photo in photos) for crop in batch_photos)


def _has_window(image, crop):
    size = crop.shape[0]
    return any(np.array_equal(image[top : top + size, left : left + size], crop)
               for top in range(image.shape[0] - size + 1) for left in range(image.shape[1] - size + 1))


def test_a_step_draws_the_same_batch_whatever_ran_before():
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (30, 30, 3), dtype=np.uint8) for _ in range(6)]
    data = distill.TeacherPairs(photos, photos, 2, 16, epoch_steps=3, seed=7)
    data.epoch = 2
    later = data[1]  # step 7
    data.epoch = 0
    data[0], data[1]
    data.epoch = 2
    np.testing.assert_array_equal(data[1][0], later[0])
    data.epoch = 1
    assert not np.array_equal(data[1][0], later[0])  # step 4: another draw


def test_the_loss_crops_the_padded_output_to_the_target():
    target = np.zeros((1, 2, 3, 1), np.float32)
    output = np.full((1, 4, 4, 1), 100.0, np.float32)  # the padding: must not count
    output[0, :2, :3, 0] = [[0.5, -0.5, 0.0], [1.0, 1.0, 1.0]]
    # L1: (0.5 + 0.5 + 0 + 1 + 1 + 1) / 6 = 0.666...; gradients of the difference:
    # vertical |1 - 0.5|, |1 + 0.5|, |1 - 0| -> mean 1.0; horizontal |-1|, |0.5|, |0|, |0| -> mean 0.375.
    assert float(distill.StudentLoss()(target, output)) == pytest.approx(4 / 6)
    assert float(distill.StudentLoss(gradient_weight=2.0)(target, output)) == pytest.approx(4 / 6 + 2 * 1.375)


def test_the_schedule_warms_up_then_decays_by_a_cosine():
    config = DistillConfig(workdir="w", photos=["p"], steps=100, warmup_steps=10, learning_rate=1e-3)
    schedule = distill.learning_rate_schedule(config)
    rate = lambda step: float(schedule(step))  # noqa: E731
    assert rate(0) == 0.0 and rate(5) == pytest.approx(5e-4) and rate(10) == pytest.approx(1e-3)
    # Halfway through the 90 decay steps: final + (peak - final) * (1 + cos(pi / 2)) / 2.
    assert rate(55) == pytest.approx(1e-4 + 9e-4 * 0.5) and rate(100) == pytest.approx(1e-4)


def test_loss_goes_down_on_a_fixed_batch():
    student = build_student("CartoonGanGenerator", TINY_STUDENT)
    rng = np.random.default_rng(0)
    photos = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    targets = rng.uniform(-0.5, 0.5, (2, 32, 32, 3)).astype(np.float32)
    student.compile(keras.optimizers.Adam(3e-3), distill.StudentLoss(gradient_weight=0.5))
    losses = [float(student.train_on_batch(photos, targets)) for _ in range(20)]
    assert losses[-1] < 0.8 * losses[0]


def test_init_from_generator_copies_sliced_weights_and_reverses_channels(tiny_preset):
    teacher, _, _ = load_preset(tiny_preset)
    student = build_student("CartoonGanGenerator", {"filters": 2, "num_residual_blocks": 1})
    assert init_from_generator(student, teacher, "BGR") == len(student.weights)
    stem_t, stem_s = teacher.get_layer("stem_conv").kernel.numpy(), student.get_layer("stem_conv").kernel.numpy()
    np.testing.assert_array_equal(stem_s, stem_t[:, :, ::-1, :2])
    head_t, head_s = teacher.get_layer("head_conv").bias.numpy(), student.get_layer("head_conv").bias.numpy()
    np.testing.assert_array_equal(head_s, head_t[::-1])


def test_a_deepened_student_starts_as_its_source():
    source = build_student("CartoonGanGenerator", TINY_STUDENT, seed=1)
    for layer in source.layers:  # non-trivial norms, so that a wrongly copied block would show
        if layer.name.endswith(("_norm", "_norm1", "_norm2")):
            for weight in layer.weights:
                weight.assign(np.random.default_rng(2).normal(0.5, 0.3, weight.shape).astype(np.float32))
    deeper = build_student("CartoonGanGenerator", {**TINY_STUDENT, "num_residual_blocks": 3}, seed=3)
    init_from_generator(deeper, source, "RGB")
    image = np.random.default_rng(4).uniform(-1, 1, (1, 20, 24, 3)).astype(np.float32)
    np.testing.assert_allclose(deeper(image).numpy(), source(image).numpy(), atol=1e-5)
    # The new blocks still learn: their zeroed norm scale gets a gradient.
    scale = deeper.get_layer("res2_norm2").weights[0]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(deeper(image) - 0.5))
    assert np.abs(tape.gradient(loss, scale).numpy()).max() > 0


@pytest.mark.parametrize("overrides, field", [
    ({"crop_size": 200, "long_side": 100}, "crop_size"),
    ({"steps": 120}, "steps"),  # not a multiple of the 50-step epoch
    ({"long_side": 100, "crop_size": 64, "epoch_steps": 1, "steps": 3}, "epoch_steps"),
    ({"generator_config": {"filters": 0}}, "generator_config"),
    ({"learning_rate": float("nan")}, "learning_rate"),
    ({"name": "../x"}, "name"),
])
def test_a_config_names_the_value_it_refuses(overrides, field):
    with pytest.raises(ParameterError) as error:
        DistillConfig(workdir="w", photos=["p"], **overrides)
    assert error.value.field == field and field in str(error.value)


def test_a_workdir_resumes_only_the_run_it_holds(tmp_path):
    first = DistillConfig(workdir=str(tmp_path), photos=["p"], steps=100)
    first.check_resumable_from(json.loads(first.to_json()))
    DistillConfig(workdir=str(tmp_path), photos=["p"], steps=200, eval_every=100).check_resumable_from(
        json.loads(first.to_json()))  # trains longer, scored more often: the same run
    DistillConfig(workdir=str(tmp_path), photos=["p"], steps=100, xla="on").check_resumable_from(
        json.loads(first.to_json()))  # XLA compiles the same step
    with pytest.raises(ParameterError, match="holds a run made with 8, not 4") as error:
        DistillConfig(workdir=str(tmp_path), photos=["p"], batch_size=4).check_resumable_from(
            json.loads(first.to_json()))
    assert error.value.field == "batch_size"


def test_a_data_folder_made_another_way_is_refused(tmp_path, tiny_preset):
    photos = _photos(tmp_path / "photos", count=2)
    data = tmp_path / "data"
    teacher_targets.precompute_teacher_targets(tiny_preset, [photos], data, crop_size=24, crops_per_image=1,
                                               precision="float32", progress=None)
    with pytest.raises(ValueError, match="long_side: None -> 36"):
        teacher_targets.precompute_teacher_targets(tiny_preset, [photos], data, crop_size=24, long_side=36,
                                                   precision="float32", progress=None)
    (data / teacher_targets.RECIPE_FILE).unlink()
    with pytest.raises(ValueError, match="recipe is unknown"):
        teacher_targets.precompute_teacher_targets(tiny_preset, [photos], data, crop_size=24, crops_per_image=1,
                                                   precision="float32", progress=None)


def test_cli_rejects_an_unknown_init_source_before_any_work(tmp_path, capsys):
    from cartoongan.cli.distill import main

    assert main(["--workdir", str(tmp_path / "work"), "--photos", str(tmp_path), "--init-from", "no_such_style"]) == 2
    assert "error: --init-from: unknown style 'no_such_style'" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("flags, message", [
    (["--long-side", "100", "--crop-size", "192"], "--crop-size (192) must be at most the long side (100)"),
    (["--steps", "120"], "--steps (120) must be a multiple of the 50 steps of an epoch"),
])
def test_cli_names_the_flag_of_a_refused_value_before_any_work(tmp_path, flags, message, capsys):
    from cartoongan.cli.distill import main

    assert main(["--workdir", str(tmp_path / "work"), "--photos", str(tmp_path), *flags]) == 2
    assert f"error: {message}" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


def test_cli_refuses_two_inits(tmp_path, capsys):
    from cartoongan.cli.distill import main

    with pytest.raises(SystemExit) as exit:
        main(["--workdir", str(tmp_path / "work"), "--photos", str(tmp_path), "--init-from", "hayao",
              "--no-teacher-init"])
    assert exit.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


def test_a_teacher_that_cannot_be_fetched_fails_before_training_and_the_cli_says_so(tmp_path, tiny_preset, monkeypatch,
                                                                                     capsys):
    from cartoongan.cli.distill import main
    from cartoongan.weights.download import DownloadError

    config = tiny_config(tmp_path, tiny_preset)
    teacher_targets.precompute_teacher_targets(config.teacher, config.photos, config.data_dir, crop_size=24,
                                               precision="float32", progress=None)

    def unreachable(name):
        raise DownloadError(f"style {name!r} could not be fetched")

    monkeypatch.setattr(distill, "resolve_preset", unreachable)
    with pytest.raises(DownloadError):
        distill.train_student(config, log=lambda line: None)
    assert not (tmp_path / "work" / "train").exists()  # nothing trained

    monkeypatch.setattr(distill, "distill", lambda config: unreachable(config.teacher))
    assert main(["--workdir", str(tmp_path / "work"), "--photos", str(tmp_path / "photos"), "--teacher", "paprika",
                 "--no-teacher-init"]) == 2
    assert "error: style 'paprika' could not be fetched" in capsys.readouterr().err


@pytest.mark.parametrize("tool", ["distill", "train"])
def test_the_help_of_a_tool_that_may_fetch_a_style_shows_the_environment(tool):
    import importlib

    assert importlib.import_module(f"cartoongan.cli.{tool}").build_parser().format_help().rstrip().endswith(
        "checked against the sha256 shipped in the package")


def test_references_are_named_by_their_path_in_the_eval_folder_and_rebuilt_for_another_folder(tmp_path):
    calls = []

    def teacher(photo):
        calls.append(photo.shape)
        return 255 - photo

    for sub, value in (("a", 10), ("b", 200)):
        (tmp_path / "eval" / sub).mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(tmp_path / "eval" / sub / "1.png")
    path = str(tmp_path / "eval_teacher.npz")
    photos = teacher_targets.list_photos([str(tmp_path / "eval")])
    names, _, _ = teacher_targets.write_references(photos, teacher, path, folder=str(tmp_path / "eval"))
    assert names == ["a/1.png", "b/1.png"] and len(calls) == 2
    teacher_targets.write_references(photos, teacher, path, folder=str(tmp_path / "eval"))
    assert len(calls) == 2  # kept

    (tmp_path / "other").mkdir()
    for sub in ("a", "b"):
        (tmp_path / "eval" / sub).rename(tmp_path / "other" / sub)
    moved = teacher_targets.list_photos([str(tmp_path / "other")])
    names, _, _ = teacher_targets.write_references(moved, teacher, path, folder=str(tmp_path / "other"))
    assert names == ["a/1.png", "b/1.png"] and len(calls) == 4  # same names, another folder: rebuilt
    with np.load(path) as data:
        assert str(data["folder"]) == str(tmp_path / "other")


def test_the_mean_psnr_counts_photos_of_the_same_name():
    photos = [np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8)]
    references = [np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 16, np.uint8)]
    one = evaluate(lambda photo: photo, photos[1:], references[1:])["mean_psnr"]
    both = evaluate(lambda photo: photo, photos, references, names=["1.jpg", "1.jpg"])["mean_psnr"]
    assert math.isfinite(one) and both > one  # the identical pair counts too
