import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from cartoongan import Cartoonizer, load_generator
from cartoongan.evaluation import ColourReference
from cartoongan.training.trainer import GuardReference, Trainer, TrainingDiverged
from tests.conftest import PROJECT_ROOT
from tests.references import numpy_median
from tests.training.synthetic import synthetic_dataset, tiny_config


def _steps(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line)["step"] for line in f]


def test_runs_resumes_and_never_repeats_a_step(tmp_path):
    config = tiny_config(tmp_path)
    assert Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False) == 4
    config.steps = 6
    assert Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False) == 2
    assert _steps(tmp_path) == [0, 1, 2, 3, 4, 5, 6]  # step 0: the starting generator's guard scores
    with open(tmp_path / "metrics.jsonl") as f:
        lines = [json.loads(line) for line in f]
    assert set(lines[0]) == {"step", "colour_distance", "colour_distance_photo"}
    assert set(lines[1]) == {"step", "generator_loss", "content_loss"}  # initialization phase
    # The guard scores the same reference images before and after the resume.
    reference = {line["step"]: line["colour_distance_photo"] for line in lines if "colour_distance_photo" in line}
    assert sorted(reference) == [0, 2, 4, 6] and len(set(reference.values())) == 1
    assert {"adversarial_loss", "discriminator_loss"} <= set(lines[-1])
    assert all(np.isfinite(v) for line in lines for v in line.values())
    assert Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False) == 0  # already done
    # The preset follows the checkpoints and serves the Cartoonizer.
    preset = json.loads((tmp_path / "preset" / "config.json").read_text())
    assert preset["trained_steps"] == 6
    image = np.random.default_rng(0).integers(0, 256, (21, 30, 3), dtype=np.uint8)
    assert Cartoonizer.from_pretrained(str(tmp_path / "preset"), precision="float32")(image).shape == (21, 30, 3)


def test_resume_restores_optimizer_state_and_weights(tmp_path):
    config = tiny_config(tmp_path)
    first = Trainer(config, dataset_fn=synthetic_dataset)
    first.fit(progress=False)
    second = Trainer(config, dataset_fn=synthetic_dataset)
    assert second.restore() == 4
    for a, b in [(first.generator_optimizer, second.generator_optimizer), (first.discriminator_optimizer, second.discriminator_optimizer)]:
        assert int(b.iterations.numpy()) == int(a.iterations.numpy()) > 0
        for va, vb in zip(a.variables, b.variables):
            np.testing.assert_array_equal(va.numpy(), vb.numpy())
    for va, vb in zip(first.generator.weights + first.discriminator.weights, second.generator.weights + second.discriminator.weights):
        np.testing.assert_array_equal(va.numpy(), vb.numpy())
    names = [name for name, _ in tf.train.list_variables(str(tmp_path / "checkpoints"))]
    assert sum(n.startswith("generator/variables/") for n in names) == len(first.generator.weights)


def test_run_killed_mid_save_resumes_from_last_good_checkpoint(tmp_path, monkeypatch):
    config = tiny_config(tmp_path, steps=4, checkpoint_every=2)
    original = tf.train.CheckpointManager._record_state

    def crash_on_step_4(manager):
        if manager.latest_checkpoint and manager.latest_checkpoint.endswith("-4"):
            raise KeyboardInterrupt("killed while saving")
        return original(manager)

    monkeypatch.setattr(tf.train.CheckpointManager, "_record_state", crash_on_step_4)
    with pytest.raises(KeyboardInterrupt):
        Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False)
    monkeypatch.setattr(tf.train.CheckpointManager, "_record_state", original)
    resumed = Trainer(config, dataset_fn=synthetic_dataset)
    assert resumed.restore() == 2
    resumed.fit(progress=False)
    assert _steps(tmp_path) == [0, 1, 2, 3, 4]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    from cartoongan import losses

    config = tiny_config(tmp_path, steps=6, checkpoint_every=3)
    clean = tiny_config(tmp_path, steps=4, checkpoint_every=3)
    Trainer(clean, dataset_fn=synthetic_dataset).fit(progress=False)  # checkpoints at 3 and 4
    monkeypatch.setattr(losses, "content_loss", lambda a, b: tf.constant(float("nan")))
    with pytest.raises(TrainingDiverged, match="step 5.*ckpt-4"):
        Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False)
    assert _steps(tmp_path) == [0, 1, 2, 3, 4]
    assert tf.train.latest_checkpoint(tmp_path / "checkpoints").endswith("ckpt-4")


def test_fine_tuning_starts_exactly_from_the_preset(tmp_path, tiny_preset):
    # float32: the outputs are compared bit for bit with the preset's, computed in float32.
    config = tiny_config(tmp_path, init_from=str(tiny_preset), generator_config={}, precision="float32")
    trainer = Trainer(config, dataset_fn=synthetic_dataset)
    reference = load_generator(str(tiny_preset))
    assert trainer.restore() == 0
    for layer in reference.layers:  # every weight of the preset, the photo path's added beside them
        for ours, theirs in zip(trainer.generator.get_layer(layer.name).weights, layer.weights):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert trainer.generator.get_layer("head_photo_median").size == 5
    for name in ("stem_photo_conv", "head_photo_conv", "ink_photo_conv"):
        assert not np.any(trainer.generator.get_layer(name).get_weights()[0])
    photo = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(trainer.generator(photo).numpy(), reference(photo).numpy())
    assert trainer.preprocessing.channel_order == "BGR"  # the preset's convention is kept
    trainer.fit(progress=False)
    saved = json.loads((tmp_path / "preset" / "config.json").read_text())
    assert saved["preprocessing"]["channel_order"] == "BGR"
    assert saved["generator"]["config"]["photo_path"] == 1
    assert saved["generator"]["config"]["photo_path_gain"] == config.photo_path_gain == 100
    assert saved["generator"]["config"]["ink_path"] == 1  # thin lines (cartoongan.models.INK_PATHS)
    assert saved["generator"]["config"]["photo_path_median"] == config.photo_path_median == 5
    with open(tmp_path / "metrics.jsonl") as f:  # the network's share of the output is weighed (--body-weight),
        last = json.loads(f.readlines()[-1])  # and its colours and light away from edges once more (--body-colour-weight)
    assert np.isfinite(last["body_loss"]) and last["body_loss"] > 0
    assert np.isfinite(last["body_colour_loss"]) and 0 < last["body_colour_loss"] <= last["body_loss"]
    # The path was trained, and the saved preset is the network that was trained.
    assert np.any(trainer.generator.get_layer("head_photo_conv").get_weights()[0])
    with trainer.preset_weights() as generator:
        np.testing.assert_allclose(load_generator(str(tmp_path / "preset"))(photo).numpy(), generator(photo).numpy(),
                                   atol=1e-6)


def test_fine_tuning_without_the_photo_path_keeps_the_presets_network(tmp_path, tiny_preset):
    config = tiny_config(tmp_path, init_from=str(tiny_preset), generator_config={}, photo_path="off")
    trainer = Trainer(config, dataset_fn=synthetic_dataset)
    assert len(trainer.generator.weights) == len(load_generator(str(tiny_preset)).weights)
    assert "photo_path" not in trainer.generator.get_config()


@pytest.mark.parametrize("layout, sizes", [({}, (8, 16)), ({"tiny_layout": 1}, (16, 32))])
def test_a_v3_generator_trained_from_scratch_saves_a_preset_that_takes_any_size(tmp_path, layout, sizes):
    """A from-scratch AnimeGANv3 run's preset (saved at step 0, untrained) records its
    generator's stride and min_size (8 and 16; 16 and 32 for the tiny layout), so the
    Cartoonizer pads a 42x23 photo (44x24 at a stride of 4, which neither layout takes) to what
    the generator takes and crops it back; the guard, which runs the generator itself on
    held-out photos, pads the same way."""
    config = tiny_config(tmp_path, generator="animegan_v3", generator_config={"filters": 4, **layout})
    trainer = Trainer(config, dataset_fn=synthetic_dataset)
    trainer.save()
    photo = np.random.default_rng(0).integers(0, 256, (23, 42, 3), dtype=np.uint8)
    assert Cartoonizer.from_pretrained(str(tmp_path / "preset"), precision="float32")(photo).shape == (23, 42, 3)
    saved = json.loads((tmp_path / "preset" / "config.json").read_text())["preprocessing"]
    assert (saved["size_multiple"], saved.get("min_size")) == sizes
    assert np.isfinite(trainer._guard_scores(GuardReference(ColourReference([photo]), [photo], None, 0.0))["colour_distance"])


def test_the_guard_runs_photos_of_one_size_together_with_each_ones_own_output(tmp_path, monkeypatch):
    """The guard batches held-out photos by size (at most GUARD_BATCH_PIXELS a batch): each
    output is, within one level, what that photo alone through the generator gives, in the
    photos' order, whatever their sizes; the photos' own colour distance is computed once."""
    import cartoongan.training.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "GUARD_BATCH_PIXELS", 2 * 24 * 40)  # batches of 2 at 24x40
    trainer = Trainer(tiny_config(tmp_path, precision="float32"), dataset_fn=synthetic_dataset)
    rng = np.random.default_rng(3)
    photos = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(24, 40, 3), (23, 42, 3), (24, 40, 3),
                                                                        (24, 40, 3), (23, 42, 3)]]
    batched = trainer._guard_outputs(trainer.generator, photos)
    for photo, output in zip(photos, batched):
        (alone,) = trainer._guard_outputs(trainer.generator, [photo])
        assert output.shape == photo.shape
        assert np.abs(output.astype(int) - alone.astype(int)).max() <= 1
    targets = [255 - photo for photo in photos]
    reference = trainer._guard_reference((photos, targets))
    assert reference.colour_distance_photo > 0 and reference.targets is targets
    scores = trainer._guard_scores(reference)
    assert scores["colour_distance_photo"] == reference.colour_distance_photo and np.isfinite(scores["gain_over_photo"])


@pytest.mark.parametrize("precision, xla", [("bfloat16", "off"), ("float32", "on")])
def test_mixed_precision_and_xla_steps_are_finite(tmp_path, precision, xla):
    config = tiny_config(tmp_path, precision=precision, xla=xla, steps=3, init_steps=1)
    Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False)
    assert _steps(tmp_path) == [0, 1, 2, 3]


def test_auto_precision_is_recorded_resolved_and_bfloat16_runs_resume_in_float32(tmp_path, monkeypatch):
    """The trainer resolves auto (bfloat16 on a CPU with native bf16) and config.json records
    what it chose. float32 and bfloat16 checkpoints hold the same float32 variables, so a run
    resumes across them (another machine's auto) with every weight and optimizer slot restored;
    float16 (loss scaling) is refused by name."""
    from cartoongan import precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    monkeypatch.setattr(precision, "has_gpu", lambda: False)
    first = Trainer(tiny_config(tmp_path), dataset_fn=synthetic_dataset)
    assert first.config.precision == "bfloat16" and first.generator.get_layer("stem_conv").compute_dtype == "bfloat16"
    first.fit(progress=False)
    assert json.loads((tmp_path / "config.json").read_text())["precision"] == "bfloat16"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    config = tiny_config(tmp_path, steps=6)
    config.check_resumable_from(json.loads((tmp_path / "config.json").read_text()))
    second = Trainer(config, dataset_fn=synthetic_dataset)
    assert second.config.precision == "float32" and second.restore() == 4
    for a, b in zip(first.generator.weights + first.generator_optimizer.variables,
                    second.generator.weights + second.generator_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert second.fit(progress=False) == 2 and _steps(tmp_path)[-1] == 6
    with pytest.raises(ValueError, match="precision='float32', not 'float16'"):
        tiny_config(tmp_path, precision="float16").check_resumable_from(json.loads((tmp_path / "config.json").read_text()))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_local_workers_train_identical_weights(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]}
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                   TF_CPP_MIN_LOG_LEVEL="3")
        workers.append(subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "tests" / "training" / "multi_worker_main.py"), str(tmp_path / f"w{index}")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))
    for worker in workers:
        output, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, output
    chief = tf.train.load_checkpoint(str(tmp_path / "w0" / "checkpoints"))
    other = tf.train.load_checkpoint(str(tmp_path / "w1" / "worker-1" / "checkpoints"))
    names = [n for n, _ in tf.train.list_variables(str(tmp_path / "w0" / "checkpoints")) if n.startswith("generator/")]
    assert names
    for name in names:
        np.testing.assert_array_equal(chief.get_tensor(name), other.get_tensor(name))
    assert _steps(tmp_path / "w0") == [0, 1, 2, 3]
    initial = tf.train.load_checkpoint(str(tmp_path / "w0" / "checkpoints"))
    assert int(initial.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")) == 3


def test_fine_tuning_learning_rate_default_lives_in_the_config(tmp_path):
    from cartoongan.training.config import FINE_TUNE_GENERATOR_LR, SCRATCH_GENERATOR_LR, TrainConfig

    assert TrainConfig(data="d", workdir="w", init_from="hayao_lite").generator_lr == FINE_TUNE_GENERATOR_LR == 7e-5
    assert TrainConfig(data="d", workdir="w").generator_lr == SCRATCH_GENERATOR_LR == 2e-4
    assert TrainConfig(data="d", workdir="w", init_from="hayao_lite", generator_lr=3e-5).generator_lr == 3e-5


def test_config_refuses_non_finite_numbers_and_bad_generator_configs(tmp_path):
    from cartoongan.training.config import TrainConfig

    for bad in [dict(content_weight=float("nan")), dict(generator_lr=float("inf")), dict(beta_1=-1.0),
                dict(generator_config={"filters": "24"}), dict(generator_config={"depth": 3}),
                dict(generator="light", generator_config={"num_residual_blocks": 10**6})]:
        with pytest.raises(ValueError):
            TrainConfig(data="d", workdir="w", **bad)
    assert "NaN" not in TrainConfig(data="d", workdir="w").to_json()


def test_gan_steps_log_what_the_discriminator_sees_and_samples_start_at_step_0(tmp_path):
    config = tiny_config(tmp_path, steps=3, init_steps=1, sample_every=100)
    Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False)
    with open(tmp_path / "metrics.jsonl") as f:
        last = json.loads(f.readlines()[-1])
    assert {"d_real", "d_fake", "d_smooth"} <= set(last)
    image_steps = []
    for path in (tmp_path / "tensorboard").glob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            image_steps += [event.step for value in event.summary.value if value.tag == "generated"]
    assert sorted(image_steps) == [0, 3]  # the starting generator, then the last step


def test_a_failed_checkpoint_save_removes_its_partial_files(tmp_path, monkeypatch):
    import errno

    from cartoongan.training.trainer import CheckpointError

    config = tiny_config(tmp_path, steps=4, checkpoint_every=2)
    original = tf.train.CheckpointManager.save

    def disk_full(manager, checkpoint_number=None, **kwargs):
        if checkpoint_number == 4:
            partial = tmp_path / "checkpoints" / "ckpt-4_temp"
            partial.mkdir()
            (partial / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(manager, checkpoint_number=checkpoint_number, **kwargs)

    monkeypatch.setattr(tf.train.CheckpointManager, "save", disk_full)
    with pytest.raises(CheckpointError, match="step 4.*No space left.*ckpt-2"):
        Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False)
    assert not list((tmp_path / "checkpoints").glob("*_temp*"))
    assert tf.train.latest_checkpoint(tmp_path / "checkpoints").endswith("ckpt-2")


def test_leftovers_of_a_killed_save_are_removed_by_the_next_run(tmp_path):
    config = tiny_config(tmp_path, steps=2)
    Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False)
    leftover = tmp_path / "checkpoints" / "ckpt-3_temp"
    leftover.mkdir()
    (leftover / "part-00000-of-00001.index").write_bytes(b"x")
    config.steps = 3
    trainer = Trainer(config, dataset_fn=synthetic_dataset)
    assert trainer.restore() == 2
    assert not leftover.exists()


@pytest.mark.parametrize("normalization", ["instance", "none"])
def test_discriminator_normalization_is_a_switch_that_resume_checks(tmp_path, normalization):
    from cartoongan.models.discriminator import CartoonGanDiscriminator
    from cartoongan.models.layers import InstanceNormalization

    discriminator = CartoonGanDiscriminator(filters=4, normalization=normalization)
    norms = [layer for layer in discriminator.layers if isinstance(layer, InstanceNormalization)]
    assert len(norms) == (3 if normalization == "instance" else 0)
    assert discriminator(tf.zeros((1, 32, 32, 3))).shape == (1, 8, 8, 1)
    assert discriminator.get_config()["normalization"] == normalization
    config = tiny_config(tmp_path, discriminator_norm=normalization)
    other = "none" if normalization == "instance" else "instance"
    with pytest.raises(ValueError, match="discriminator_norm"):
        config.check_resumable_from({"discriminator_norm": other})
    if normalization == "none":  # runs from before the switch had instance norms
        with pytest.raises(ValueError, match="discriminator_norm instance") as error:
            config.check_resumable_from({"generator": "full", "warmup_steps": config.warmup_steps})
        assert "(--discriminator-norm instance)" in error.value.explain(lambda field: "--" + field.replace("_", "-"))


def test_runs_from_before_the_warm_up_resume_only_without_it(tmp_path):
    """With a warm-up the optimizers' learning rate is a schedule, without one a checkpointed
    variable: a run from before the warm-up (no warmup_steps in its config.json) cannot restore
    into optimizers with one, so it is refused by name instead of failing inside the restore;
    nor, without a warm-up, into a decaying rate (--lr-decay linear, also a schedule)."""
    config = tiny_config(tmp_path)
    assert config.warmup_steps == 100
    with pytest.raises(ValueError, match="warmup_steps=0, not 100"):
        config.check_resumable_from({"discriminator_norm": "none"})
    with pytest.raises(ValueError, match="lr_decay='none', not 'linear'"):  # no decay then either
        tiny_config(tmp_path, warmup_steps=0, photo_path="off", texture_weight=0.0).check_resumable_from(
            {"discriminator_norm": "none"})
    tiny_config(tmp_path, warmup_steps=0, photo_path="off", texture_weight=0.0, lr_decay="none",
                average_last=0.0).check_resumable_from({"discriminator_norm": "none"})


def test_runs_from_before_the_photo_path_resume_only_without_it(tmp_path):
    """The path adds generator weights: a run from before it (no photo_path in its
    config.json) has checkpoints without them, so it is refused by name, not mid-restore."""
    before = {"discriminator_norm": "none", "warmup_steps": 100}
    with pytest.raises(ValueError, match="photo_path='off', not 'on'"):
        tiny_config(tmp_path).check_resumable_from(before)
    tiny_config(tmp_path, photo_path="off", texture_weight=0.0, average_last=0.0).check_resumable_from(before)


def test_runs_from_before_the_photo_path_gain_and_the_ink_path_resume_only_as_they_trained(tmp_path):
    """The gain scales weights the checkpoint holds raw: a run with the path from before the
    gain was recorded trained with the legacy 10, so today's default is refused by name and
    --photo-path-gain 10 resumes it; it had no ink path (weights its checkpoint lacks) either,
    refused until --ink-path off, and its path carried the photo itself (--photo-path-median 0);
    runs without the photo path have none of them to agree on."""
    before = {"discriminator_norm": "none", "warmup_steps": 100, "photo_path": "on", "texture_weight": 1.0,
              "average_last": 0.7}
    legacy = dict(photo_path_gain=10, ink_path="off", photo_path_median=0)
    assert tiny_config(tmp_path, ink_path="off").photo_path_gain == 100
    assert tiny_config(tmp_path).photo_path_median == 5
    for name, value, message in [("photo_path_gain", 100, "photo_path_gain=10, not 100"),
                                 ("ink_path", "on", "ink_path='off', not 'thin'"),
                                 ("photo_path_median", 5, "photo_path_median=0, not 5")]:
        with pytest.raises(ValueError, match=message):
            tiny_config(tmp_path, **dict(legacy, **{name: value})).check_resumable_from(before)
    tiny_config(tmp_path, **legacy).check_resumable_from(before)
    tiny_config(tmp_path, photo_path="off").check_resumable_from(dict(before, photo_path="off"))


def test_runs_from_before_soft_lines_resume_with_thin_lines_only(tmp_path):
    """Runs from before soft lines recorded ink_path "on" and trained 1 px lines: they resume
    as thin (the default, and what "on" given today means); --ink-path soft (a blur whose
    kernel the checkpoint lacks) is refused by name, and a soft run resumes as soft only."""
    before = {"discriminator_norm": "none", "warmup_steps": 100, "photo_path": "on", "texture_weight": 1.0,
              "photo_path_gain": 100, "ink_path": "on", "photo_path_median": 5, "average_last": 0.7}
    assert tiny_config(tmp_path).ink_path == "thin" and tiny_config(tmp_path, ink_path="on").ink_path == "thin"
    tiny_config(tmp_path).check_resumable_from(before)
    tiny_config(tmp_path, ink_path="on").check_resumable_from(before)
    with pytest.raises(ValueError, match="ink_path='thin', not 'soft'"):
        tiny_config(tmp_path, ink_path="soft").check_resumable_from(before)
    tiny_config(tmp_path, ink_path="soft").check_resumable_from(dict(before, ink_path="soft"))
    with pytest.raises(ValueError, match="ink_path='soft', not 'thin'"):
        tiny_config(tmp_path).check_resumable_from(dict(before, ink_path="soft"))


def test_the_line_loss_moves_the_lines_but_not_the_photo_path_unless_asked(tmp_path):
    """With only the line loss weighed (beside the adversarial term, the same in every run), the
    generator's gradient on the head photo path's weights is the adversarial term's alone
    with --line-photo-path off (up to float rounding, under 1e-6 of the line loss's pull),
    while the ink path's and the network's move by the line loss's; with --line-photo-path on
    (the default) the photo path's moves too. The path's weights are set away from 0
    first, so that the output depends on them."""
    weights = dict(content_weight=0.0, colour_weight=0.0, colour_distribution_weight=0.0, checkerboard_weight=0.0,
                   texture_weight=0.0, body_weight=0.0, precision="float32")
    batch = next(iter(synthetic_dataset(None, 0)))

    def gradients(line_weight, line_photo_path):
        keras.utils.set_random_seed(0)
        trainer = Trainer(tiny_config(tmp_path / f"{line_weight}-{line_photo_path}", line_weight=line_weight,
                                      line_photo_path=line_photo_path, **weights), dataset_fn=synthetic_dataset)
        rng = np.random.default_rng(0)
        for name in ("head_photo_conv", "ink_photo_conv"):
            layer = trainer.generator.get_layer(name)
            layer.set_weights([rng.normal(0, 0.005, w.shape).astype("float32") for w in layer.get_weights()])
        _, generator_gradients, _ = trainer._gan_gradients_fn(batch)
        return {v.path: np.asarray(g) for v, g in zip(trainer.generator.trainable_variables, generator_gradients)}

    adversarial = gradients(0.0, "off")
    shielded, reaching = gradients(50.0, "off"), gradients(50.0, "on")

    def moved(grads, part):
        (key,) = [k for k in grads if part in k]
        return np.abs(grads[key] - adversarial[key]).max()

    # Measured: 6.6e-6 shielded (float rounding of a sum and its difference) against 101.5.
    assert moved(reaching, "head_photo_conv") > 1.0
    assert moved(shielded, "head_photo_conv") < 1e-6 * moved(reaching, "head_photo_conv")
    for part in ("ink_photo_conv", "head_conv/kernel"):  # measured: 121.0 and 17.4, alike either way
        assert moved(shielded, part) > 1.0
        assert moved(shielded, part) == pytest.approx(moved(reaching, part), rel=1e-4)


def test_a_workdir_given_as_dotdot_names_the_preset_after_the_real_folder(tmp_path, monkeypatch):
    """`--workdir ..` once named the preset `..`, which the CLI then used as an output folder."""
    from cartoongan.presets import read_preset_config

    (tmp_path / "my run" / "inner").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "my run" / "inner")
    config = tiny_config("..", init_steps=1, steps=2, checkpoint_every=2)
    Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False)
    assert read_preset_config(tmp_path / "my run" / "preset")["name"] == "my_run"


def _write_pngs(folder, images):
    from PIL import Image

    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i}.png")


def test_held_out_targets_log_the_gain_over_the_photo_every_sample(tmp_path):
    """The guard's gain is what the saved preset scores: PSNR(output, target) - PSNR(photo,
    target), recomputed here with the Cartoonizer and numpy, both in float32."""
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (20, 24, 3), dtype=np.uint8) for _ in range(2)]
    targets = [np.clip(p.astype(int) // 64 * 64 + 32, 0, 255).astype(np.uint8) for p in photos]
    _write_pngs(tmp_path / "held" / "photos", photos)
    _write_pngs(tmp_path / "held" / "targets", targets)
    config = tiny_config(tmp_path / "run", steps=3, init_steps=1, sample_every=2, held_out=str(tmp_path / "held"),
                         precision="float32")
    Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False)
    with open(tmp_path / "run" / "metrics.jsonl") as f:
        lines = {line["step"]: line for line in map(json.loads, f)}
    assert [step for step, line in lines.items() if "gain_over_photo" in line] == [0, 2, 3]
    cartoonizer = Cartoonizer.from_pretrained(str(tmp_path / "run" / "preset"), precision="float32")

    def psnr(a, b):
        return 10 * np.log10(255.0**2 / np.mean((a.astype(float) - b.astype(float)) ** 2))

    outputs = [cartoonizer(p) for p in photos]
    expected = np.mean([psnr(o, t) - psnr(p, t) for o, p, t in zip(outputs, photos, targets)])
    assert lines[3]["gain_over_photo"] == pytest.approx(expected, abs=1e-3)
    assert lines[3]["colour_distance_photo"] == lines[0]["colour_distance_photo"] > 0


def test_a_trainer_fitted_in_chunks_builds_its_guard_reference_once(tmp_path, monkeypatch):
    """A benchmark fits one Trainer in chunks (config.steps raised between fits): the guard's
    reference (its anime colours, photos and targets) is built by the first fit only, and every
    chunk logs the same photos' colour distance; a fit at another seed builds it again."""
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (20, 24, 3), dtype=np.uint8) for _ in range(2)]
    _write_pngs(tmp_path / "held" / "photos", photos)
    _write_pngs(tmp_path / "held" / "targets", [255 - p for p in photos])
    config = tiny_config(tmp_path / "run", steps=2, init_steps=1, sample_every=1, held_out=str(tmp_path / "held"))
    trainer = Trainer(config, dataset_fn=synthetic_dataset)
    built = []
    build = trainer._guard_reference
    monkeypatch.setattr(trainer, "_guard_reference", lambda held_out: built.append(1) or build(held_out))
    trainer.fit(progress=False)
    config.steps = 4
    trainer.fit(progress=False)
    assert len(built) == 1
    with open(tmp_path / "run" / "metrics.jsonl") as f:
        photo_distances = {line["colour_distance_photo"] for line in map(json.loads, f) if "colour_distance_photo" in line}
    assert len(photo_distances) == 1 and photo_distances.pop() > 0
    config.steps, config.seed = 5, 1
    trainer.fit(progress=False)
    assert len(built) == 2


def test_a_held_out_photo_without_its_target_is_named_before_any_work(tmp_path):
    from cartoongan.training.trainer import DataError

    rng = np.random.default_rng(0)
    _write_pngs(tmp_path / "held" / "photos", [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)] * 2)
    _write_pngs(tmp_path / "held" / "targets", [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)])
    config = tiny_config(tmp_path / "run", held_out=str(tmp_path / "held"))
    with pytest.raises(DataError, match=r"targets/1\.png: missing, the target of .*photos/1\.png"):
        Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False)
    assert not (tmp_path / "run").exists()


def test_texture_style_and_structure_terms_train_and_the_texture_discriminator_resumes(tmp_path):
    """White-box's texture discriminator (a second one, on random grayscale mixes), AnimeGANv2's
    Gram style loss and White-box's superpixel structure loss: finite, logged, and the second
    discriminator is checkpointed (a resume restores it exactly) and a resume key by presence."""
    config = tiny_config(tmp_path, texture_weight=1.0, style_weight=1.0, structure_weight=1.0, colour_pool=2)
    first = Trainer(config, dataset_fn=synthetic_dataset)
    first.fit(progress=False)
    with open(tmp_path / "metrics.jsonl") as f:
        last = [json.loads(line) for line in f][-1]
    assert all(np.isfinite(last[k]) and last[k] > 0 for k in ("texture_loss", "style_loss", "structure_loss"))
    second = Trainer(config, dataset_fn=synthetic_dataset)
    assert second.restore() == 4
    for a, b in zip(first.texture_discriminator.weights, second.texture_discriminator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    previous = json.loads((tmp_path / "config.json").read_text())
    tiny_config(tmp_path, texture_weight=3.0).check_resumable_from(previous)  # another weight: same checkpoint
    with pytest.raises(ValueError, match="texture_weight"):
        tiny_config(tmp_path, texture_weight=0.0).check_resumable_from(previous)


def test_the_learning_rate_rises_over_the_warm_up_then_falls_linearly_to_zero_at_the_last_step():
    """WarmupThenDecay(1e-4, 100, decay_steps=1000) at steps the optimizer counts from 0, against
    rates worked out by hand: 1e-4 * (step + 1) / 100 while warming up, then 1e-4 * (1000 -
    step) / 900; without decay_steps it stays at 1e-4."""
    from cartoongan.training.trainer import WarmupThenDecay

    decaying, flat = WarmupThenDecay(1e-4, 100, decay_steps=1000), WarmupThenDecay(1e-4, 100)
    expected = {0: 1e-6, 49: 5e-5, 99: 1e-4, 100: 1e-4, 550: 5e-5, 999: 1e-4 / 900, 1000: 0.0, 1200: 0.0}
    for step, rate in expected.items():
        assert float(decaying(step)) == pytest.approx(rate, rel=1e-5, abs=1e-12), step
    assert [float(flat(step)) for step in (99, 550, 5000)] == pytest.approx([1e-4] * 3, rel=1e-6)
    assert WarmupThenDecay(1e-4, 0, decay_steps=0).get_config()["decay_steps"] == 1  # an optimizer with no steps


@pytest.mark.parametrize("median", [5, 0])
def test_the_content_loss_holds_each_output_to_its_photos_median(tmp_path, median):
    """--content-median 5 (the default): with the content features made the identity, the
    logged content loss of an initialization step is the mean |output - the photo's 5x5
    median| computed here with numpy (reflected borders); with 0 it is to the photo itself."""
    trainer = Trainer(tiny_config(tmp_path, content_median=median), dataset_fn=synthetic_dataset)
    trainer.vgg = lambda images: images
    photo = np.random.default_rng(0).uniform(-1, 1, (2, 16, 20, 3)).astype("float32")
    metrics, _ = trainer._init_gradients_fn({"photo": tf.constant(photo)})
    reference = photo
    if median:
        reference = numpy_median(photo, 5)
    generated = trainer.generator(trainer._to_generator_convention(tf.constant(photo))).numpy()
    expected = np.abs(trainer._to_generator_convention(tf.constant(reference, tf.float32)).numpy() - generated).mean()
    np.testing.assert_allclose(metrics["content_loss"].numpy(), expected, rtol=1e-5)


def _weights_by_layer(generator):
    return {layer.name: [w.numpy() for w in layer.weights] for layer in generator.layers if layer.weights}


def test_the_preset_holds_the_mean_of_the_generators_weights_over_the_last_steps(tmp_path):
    """--average-last 0.5 over 4 steps: the preset saved at step 4 holds the mean of the
    generator's weights after steps 3 and 4 (recorded here between chunks, as the benchmark
    runs them), to float32 rounding, while the trainer keeps training its own (step 4's); a
    run stopped after step 3 and resumed gives the same mean (it and its count are in the
    checkpoint). With 0 the preset is the last step's weights and no mean is checkpointed."""
    recorded = {}
    for workdir, resume in ((tmp_path / "once", False), (tmp_path / "resumed", True)):
        for steps in (3, 4):
            if steps == 3 or resume:  # a new Trainer restores step 3's checkpoint
                trainer = Trainer(tiny_config(workdir, average_last=0.5, checkpoint_every=1), dataset_fn=synthetic_dataset)
            trainer.config.steps = steps  # the average's span stays the one of the 4 steps configured
            trainer.fit(progress=False)
            recorded[workdir, steps] = _weights_by_layer(trainer.generator)
        preset = _weights_by_layer(load_generator(str(workdir / "preset")))
        for name, weights in preset.items():
            for ours, after_3, after_4 in zip(weights, recorded[workdir, 3][name], recorded[workdir, 4][name]):
                np.testing.assert_allclose(ours, (after_3 + after_4) / 2, rtol=1e-6, atol=1e-7)
        assert int(trainer.averaged_steps.numpy()) == 2
        assert any(not np.array_equal(a, b) for a, b in zip(recorded[workdir, 4]["head_conv"], preset["head_conv"]))
    plain = Trainer(tiny_config(tmp_path / "plain", average_last=0.0), dataset_fn=synthetic_dataset)
    plain.fit(progress=False)
    saved = [name for name, _ in tf.train.list_variables(plain.manager.latest_checkpoint)]
    assert not plain.average_weights and not [name for name in saved if "generator_average" in name]
    assert [name for name in tf.train.list_variables(trainer.manager.latest_checkpoint) if "generator_average" in name[0]]
    for name, weights in _weights_by_layer(load_generator(str(tmp_path / "plain" / "preset"))).items():
        for ours, trained in zip(weights, _weights_by_layer(plain.generator)[name]):
            np.testing.assert_array_equal(ours, trained)


def test_runs_from_before_the_weight_average_resume_only_without_it(tmp_path):
    """The mean of the weights is checkpointed: a run from before it (no average_last in its
    config.json) is refused by name with today's default, and resumes with --average-last 0."""
    before = {"discriminator_norm": "none", "warmup_steps": 100, "photo_path": "on", "texture_weight": 1.0,
              "photo_path_gain": 100, "ink_path": "on", "photo_path_median": 5}
    with pytest.raises(ValueError, match="average_last=0.0, not 0.7"):
        tiny_config(tmp_path).check_resumable_from(before)
    tiny_config(tmp_path, average_last=0.0).check_resumable_from(before)
    tiny_config(tmp_path, average_last=0.3).check_resumable_from(dict(before, average_last=0.7))  # the same checkpoint
