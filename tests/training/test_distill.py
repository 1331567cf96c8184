import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from cartoongan import Cartoonizer
from cartoongan.presets import read_preset_config
from cartoongan.training import distill


def _photos(folder, count=5):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        # Smooth synthetic "photos": low-frequency colour fields, upsampled.
        small = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
        Image.fromarray(small).resize((40 + 4 * i, 48), Image.BILINEAR).save(folder / f"p{i}.png")
    return folder


def test_pipeline_end_to_end(tmp_path, tiny_preset):
    photos = _photos(tmp_path / "photos")
    data = tmp_path / "data"
    shards = distill.precompute_teacher_targets(tiny_preset, [photos], data, crop_size=32, crops_per_image=2,
                                                shard_size=4, batch_size=4, precision="float32", progress=False)
    assert len(shards) == 3
    with np.load(shards[0]) as shard:
        assert shard["photos"].shape == shard["targets"].shape == (4, 32, 32, 3)
        assert shard["targets"].dtype == np.uint8
    # Precomputing again finds every shard done.
    assert distill.precompute_teacher_targets(tiny_preset, [photos], data, crop_size=32, crops_per_image=2,
                                              shard_size=4, precision="float32", progress=False) == shards

    paths = distill.list_photos([photos])
    eval_photos = distill.teacher_references(paths, tiny_preset, cache=str(tmp_path / "ref.npz"))
    workdir = tmp_path / "train"
    config = {"filters": 4, "num_residual_blocks": 1}
    preset = distill.train_student(data, workdir, "CartoonGanGenerator", config, steps=3, batch_size=2,
                                   init_from=tiny_preset, eval_photos=eval_photos, eval_every=3,
                                   preset_name="tiny_student", log=lambda *_: None)
    metrics = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
    assert metrics[-1]["step"] == 3 and np.isfinite(metrics[-1]["eval_psnr"])
    assert read_preset_config(preset)["preprocessing"]["channel_order"] == "RGB"

    # Re-running with more steps resumes from the checkpoint instead of starting over.
    logs = []
    distill.train_student(data, workdir, "CartoonGanGenerator", config, steps=4, batch_size=2, log=logs.append)
    assert any("resumed" in line and "step 3" in line for line in logs)

    cartoonizer = Cartoonizer.from_pretrained(str(preset), precision="float32")
    image = np.random.default_rng(1).integers(0, 256, (30, 26, 3), dtype=np.uint8)
    output = cartoonizer(image)
    assert output.dtype == np.uint8 and output.shape == image.shape

    result = distill.evaluate_against_teacher(str(preset), photos, teacher=tiny_preset,
                                              cache=str(tmp_path / "ref.npz"))
    assert set(result["per_photo"]) == {p.name for p in sorted(photos.iterdir())}
    assert np.isfinite(result["mean_psnr"])


def test_whole_photo_targets_are_the_teacher_on_the_whole_photo(tmp_path, tiny_preset):
    photos = _photos(tmp_path / "photos", count=3)
    wide = np.random.default_rng(5).integers(0, 256, (3, 9, 3), dtype=np.uint8)
    Image.fromarray(wide).resize((90, 30), Image.BILINEAR).save(photos / "wide.png")
    shards = distill.precompute_teacher_targets(tiny_preset, [photos], tmp_path / "data", crop_size=24, long_side=36,
                                                shard_size=2, precision="float32", progress=False)
    assert len(shards) == 2
    pairs = list(zip(*distill.load_shards(tmp_path / "data")))
    sizes = sorted(photo.shape[:2] for photo, _ in pairs)
    # Long side 36; the 3:1 photo stops shrinking where its short side reaches the 24px crop.
    assert sizes == [(24, 72), (36, 30), (36, 33), (36, 36)]
    teacher = Cartoonizer.from_pretrained(tiny_preset, precision="float32")
    for photo, target in pairs:
        np.testing.assert_array_equal(target, teacher(photo))

    # Whole pairs of sizes that are not multiples of the stride train like they infer.
    preset = distill.train_student(tmp_path / "data", tmp_path / "train", "CartoonGanGenerator",
                                   {"filters": 4, "num_residual_blocks": 1}, steps=3, batch_size=2,
                                   init_from=tiny_preset, log=lambda *_: None)
    metrics = [json.loads(line) for line in open(tmp_path / "train" / "metrics.jsonl")]
    assert metrics[-1]["step"] == 3 and np.isfinite(metrics[-1]["loss"])
    assert read_preset_config(preset)["training"]["crop_size"] is None

    rng = np.random.default_rng(0)
    batch_photos, batch_targets = distill.random_batch(*map(list, zip(*pairs)), 16, 24, rng)
    assert batch_photos.shape == batch_targets.shape == (16, 24, 24, 3)
    # Every crop is a window of one pair, the same window in photo and target.
    for crop, crop_target in zip(batch_photos, batch_targets):
        assert any(_find_window(photo, crop) is not None and
                   np.array_equal(_cut(target, _find_window(photo, crop), 24), crop_target)
                   for photo, target in pairs)


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


def _find_window(image, crop):
    size = crop.shape[0]
    for top in range(image.shape[0] - size + 1):
        for left in range(image.shape[1] - size + 1):
            if np.array_equal(image[top : top + size, left : left + size], crop):
                return top, left
    return None


def _cut(image, corner, size):
    return image[corner[0] : corner[0] + size, corner[1] : corner[1] + size]


def test_init_from_generator_copies_sliced_weights_and_reverses_channels(tiny_preset):
    from cartoongan.presets import load_preset

    teacher, _, _ = load_preset(tiny_preset)
    student = distill.build_student("CartoonGanGenerator", {"filters": 2, "num_residual_blocks": 1})
    assert distill.init_from_generator(student, teacher, "BGR") == len(student.weights)
    stem_t, stem_s = teacher.get_layer("stem_conv").kernel.numpy(), student.get_layer("stem_conv").kernel.numpy()
    np.testing.assert_array_equal(stem_s, stem_t[:, :, ::-1, :2])
    head_t, head_s = teacher.get_layer("head_conv").bias.numpy(), student.get_layer("head_conv").bias.numpy()
    np.testing.assert_array_equal(head_s, head_t[::-1])


def test_a_deepened_student_starts_as_its_source():
    config = {"filters": 4, "num_residual_blocks": 1}
    source = distill.build_student("CartoonGanGenerator", config, seed=1)
    for layer in source.layers:  # non-trivial norms, so that a wrongly copied block would show
        if layer.name.endswith(("_norm", "_norm1", "_norm2")):
            for weight in layer.weights:
                weight.assign(np.random.default_rng(2).normal(0.5, 0.3, weight.shape).astype(np.float32))
    deeper = distill.build_student("CartoonGanGenerator", {**config, "num_residual_blocks": 3}, seed=3)
    distill.init_from_generator(deeper, source, "RGB")
    image = np.random.default_rng(4).uniform(-1, 1, (1, 20, 24, 3)).astype(np.float32)
    np.testing.assert_allclose(deeper(image).numpy(), source(image).numpy(), atol=1e-5)
    # The new blocks still learn: their zeroed norm scale gets a gradient.
    scale = deeper.get_layer("res2_norm2").weights[0]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(deeper(image) - 0.5))
    assert np.abs(tape.gradient(loss, scale).numpy()).max() > 0


def test_loss_goes_down_on_a_fixed_batch():
    student = distill.build_student("CartoonGanGenerator", {"filters": 4, "num_residual_blocks": 1})
    rng = np.random.default_rng(0)
    photos = tf.constant(rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8))
    targets = tf.constant(rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8) // 2 + 64)
    step = distill.make_train_step(student, keras.optimizers.Adam(3e-3), distill.make_loss_fn(gradient_weight=0.5))
    losses = [float(step(photos, targets)) for _ in range(20)]
    assert losses[-1] < 0.8 * losses[0]


def test_cli_rejects_an_unknown_init_source_before_any_work(tmp_path, capsys):
    from cartoongan.cli.distill import main

    assert main(["--workdir", str(tmp_path / "work"), "--photos", str(tmp_path), "--init-from", "no_such_style"]) == 2
    assert "no_such_style" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


def test_a_data_folder_made_another_way_is_refused(tmp_path, tiny_preset):
    photos = _photos(tmp_path / "photos", count=2)
    data = tmp_path / "data"
    distill.precompute_teacher_targets(tiny_preset, [photos], data, crop_size=24, crops_per_image=1,
                                       precision="float32", progress=False)
    with pytest.raises(ValueError, match="long_side: None -> 36"):
        distill.precompute_teacher_targets(tiny_preset, [photos], data, crop_size=24, long_side=36,
                                           precision="float32", progress=False)
    (data / distill.RECIPE_FILE).unlink()
    with pytest.raises(ValueError, match="recipe is unknown"):
        distill.precompute_teacher_targets(tiny_preset, [photos], data, crop_size=24, crops_per_image=1,
                                           precision="float32", progress=False)


@pytest.mark.parametrize("flags", [["--init-from", "hayao", "--no-teacher-init"],
                                   ["--long-side", "100", "--crop-size", "192"]])
def test_cli_rejects_conflicting_flags_before_any_work(tmp_path, flags, capsys):
    from cartoongan.cli.distill import main

    assert main(["--workdir", str(tmp_path / "work"), "--photos", str(tmp_path), *flags]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()
