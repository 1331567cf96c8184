"""resolve_config: a run's TrainConfig from what a user gave, refused with the field at fault."""

import json

import pytest

from cartoongan.errors import ParameterError
from cartoongan.training.config import FINE_TUNE_GENERATOR_LR, SCRATCH_GENERATOR_LR
from cartoongan.training.resolve import resolve_config


@pytest.fixture
def data(tmp_path):
    """A folder that passes check_data_dir: a non-empty shard of each family (never read here)."""
    folder = tmp_path / "records"
    folder.mkdir()
    for family in ("photo", "anime"):
        (folder / f"{family}-00000-of-00001.tfrecord").write_bytes(b"not read")
    return str(folder)


def test_a_fine_tune_takes_its_presets_architecture_and_the_gentle_rate(data, tmp_path, tiny_preset):
    config = resolve_config(data, str(tmp_path / "w"), init_from=str(tiny_preset))
    assert config.generator == "cartoongan" and config.generator_lr == FINE_TUNE_GENERATOR_LR
    scratch = resolve_config(data, str(tmp_path / "w"))
    assert scratch.generator == "cartoongan" and scratch.generator_lr == SCRATCH_GENERATOR_LR


@pytest.mark.parametrize("options, field, flags_message", [
    (dict(generator="light"), "generator", "--generator light contradicts --init-from"),
    (dict(generator_config={"filters": 8}), "generator_config",
     "--generator-config cannot change a pretrained generator given by --init-from"),
])
def test_what_contradicts_the_preset_is_refused_by_field(data, tmp_path, tiny_preset, options, field, flags_message):
    with pytest.raises(ParameterError) as error_info:
        resolve_config(data, str(tmp_path / "w"), init_from=str(tiny_preset), **options)
    assert error_info.value.field == field
    assert error_info.value.explain(lambda name: "--" + name.replace("_", "-")).startswith(flags_message)


def test_missing_data_is_refused_by_field(tmp_path):
    with pytest.raises(ParameterError) as error_info:
        resolve_config(str(tmp_path / "missing"), str(tmp_path / "w"))
    assert error_info.value.field == "data" and "no such folder" in str(error_info.value)


def test_a_workdir_holding_another_architecture_is_refused(data, tmp_path):
    workdir = tmp_path / "w"
    workdir.mkdir()
    (workdir / "config.json").write_text(json.dumps({"generator": "light", "discriminator_norm": "none", "warmup_steps": 100, "photo_path": "on",
                                                     "photo_path_gain": 100, "ink_path": "on", "texture_weight": 1.0,
                                                     "photo_path_median": 5, "average_last": 0.7}))
    with pytest.raises(ValueError, match="holds a run with generator='light'"):
        resolve_config(data, str(workdir))
    assert resolve_config(data, str(workdir), generator="light").generator == "light"


def test_a_workdir_that_is_a_file_or_under_one_is_refused_by_field(data, tmp_path):
    (tmp_path / "file").write_text("x")
    for workdir, message in [(tmp_path / "file", "is a file, not a folder"),
                             (tmp_path / "file" / "run", f"{tmp_path / 'file'} is a file, not a folder")]:
        with pytest.raises(ParameterError) as error_info:
            resolve_config(data, str(workdir))
        assert error_info.value.field == "workdir" and message in str(error_info.value)


@pytest.mark.parametrize("name, make, message", [
    ("checkpoints", "file", "checkpoints is a file, where a run writes its checkpoints folder"),
    ("preset", "file", "preset is a file, where a run writes its preset folder"),
    ("metrics.jsonl", "folder", "metrics.jsonl is a folder, where a run writes its metrics.jsonl file"),
])
def test_a_workdir_entry_of_the_wrong_kind_is_named_before_any_model(data, tmp_path, name, make, message):
    """A file `checkpoints` made every save fail as if the disk were full."""
    workdir = tmp_path / "w"
    workdir.mkdir()
    (workdir / name).mkdir() if make == "folder" else (workdir / name).write_text("x")
    with pytest.raises(ParameterError) as error_info:
        resolve_config(data, str(workdir))
    assert error_info.value.field == "workdir" and message in str(error_info.value)


def test_remove_unused_workdir_removes_only_a_run_that_saved_nothing(tmp_path):
    from cartoongan.training.resolve import remove_unused_workdir

    def run(*names):
        workdir = tmp_path / f"w{len(list(tmp_path.iterdir()))}"
        workdir.mkdir()
        (workdir / "tensorboard").mkdir()
        (workdir / "config.json").write_text("{}")
        (workdir / "metrics.jsonl").write_text('{"step": 1}\n')
        for name in names:
            (workdir / name).parent.mkdir(parents=True, exist_ok=True)
            (workdir / name).write_text("x")
        return workdir

    bookkeeping = run()
    assert remove_unused_workdir(str(bookkeeping), existed=False) and not bookkeeping.exists()
    for kept, existed in [(run(), True), (run("checkpoints/ckpt-5.index"), False), (run("preset/config.json"), False),
                          (run("notes.txt"), False)]:  # someone else's file: never removed
        assert not remove_unused_workdir(str(kept), existed) and (kept / "config.json").exists()


@pytest.mark.parametrize("content, message", [
    ('{"generator": ', "config.json cannot be read as a run's config (Expecting value: line 1 column 15"),
    ("[1, 2]", "config.json holds a JSON list, not a run's config"),
    (b"\xff\xfe{}", "config.json cannot be read as a run's config ('utf-8' codec can't decode"),
])
def test_a_corrupt_config_json_is_named_with_its_file(data, tmp_path, content, message):
    workdir = tmp_path / "w"
    workdir.mkdir()
    (workdir / "config.json").write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ParameterError) as error_info:
        resolve_config(data, str(workdir))
    assert error_info.value.field == "workdir"
    assert f"{workdir / 'config.json'}" in str(error_info.value) and message in str(error_info.value)


def test_a_stored_value_no_run_can_have_is_not_advised_as_the_value_to_pass(data, tmp_path):
    workdir = tmp_path / "w"
    workdir.mkdir()
    (workdir / "config.json").write_text(json.dumps({"generator": "cartoongan", "discriminator_norm": "none",
                                                     "warmup_steps": 100, "photo_path": "maybe"}))
    with pytest.raises(ParameterError) as error_info:
        resolve_config(data, str(workdir))
    message = error_info.value.explain(lambda field: "--" + field.replace("_", "-"))
    assert "holds photo_path='maybe', which no run can have (photo_path must be on or off" in message
    assert "--photo-path maybe" not in message and "use another --workdir" in message


@pytest.mark.parametrize("generator", ["whitebox", "animegan_v2"])
def test_families_without_the_photo_path_record_it_off_and_resume_runs_that_recorded_it_on(data, tmp_path, generator):
    """The path is built for the cartoongan and light families only: the others recorded
    photo_path "on" (doing nothing) and then refused --photo-path off on resume."""
    workdir = tmp_path / "w"
    assert resolve_config(data, str(workdir), generator=generator).photo_path == "off"
    workdir.mkdir()
    (workdir / "config.json").write_text(json.dumps({"generator": generator, "discriminator_norm": "none",
                                                     "warmup_steps": 100, "photo_path": "on",
                                                     "texture_weight": 1.0, "average_last": 0.7}))  # an older run
    for options in ({}, {"photo_path": "off"}):
        assert resolve_config(data, str(workdir), generator=generator, **options).photo_path == "off"
    with pytest.raises(ParameterError) as error_info:
        resolve_config(data, str(workdir), generator=generator, photo_path="on")
    assert error_info.value.field == "photo_path"
    assert f"on: the {generator} generator has no photo path (only cartoongan and light have one)" in str(
        error_info.value)


def _checkpoint_at(workdir, step):
    """A checkpoint as the trainer names them (ckpt-STEP), holding only the step."""
    import tensorflow as tf

    checkpoint = tf.train.Checkpoint(step=tf.Variable(step, dtype=tf.int64))
    tf.train.CheckpointManager(checkpoint, str(workdir / "checkpoints"), max_to_keep=1).save(checkpoint_number=step)


def test_fewer_steps_than_the_run_has_made_are_refused_by_field(data, tmp_path):
    """--steps 3 on a run at step 5 printed "ran 0 steps; at step 5 of 3" and exited 0."""
    workdir = tmp_path / "w"
    _checkpoint_at(workdir, 5)
    with pytest.raises(ParameterError) as error_info:
        resolve_config(data, str(workdir), steps=3)
    assert error_info.value.field == "steps"
    assert error_info.value.explain(lambda field: "--" + field.replace("_", "-")).startswith(
        f"--steps 3: the run in {workdir} is already at step 5, past the steps asked for")
    for steps in (5, 6):  # the same command again (nothing to do), or further
        assert resolve_config(data, str(workdir), steps=steps).steps == steps


def test_a_checkpoint_that_config_json_no_longer_describes_is_refused_with_what_differs(tmp_path):
    """config.json edited after the run saved: TensorFlow's restore died with a shape error
    (`Shapes (3, 3, 48, 96) and (48,) are incompatible`)."""
    from cartoongan.training.resume import ResumeError
    from cartoongan.training.trainer import Trainer
    from tests.training.synthetic import synthetic_dataset, tiny_config

    Trainer(tiny_config(tmp_path), dataset_fn=synthetic_dataset).manager.save(checkpoint_number=1)  # as fit saves
    edited = tiny_config(tmp_path, generator_config={"filters": 8, "num_residual_blocks": 1})
    with pytest.raises(ResumeError) as error_info:
        Trainer(edited, dataset_fn=synthetic_dataset).restore()
    message = str(error_info.value)
    assert error_info.value.field == "workdir" and str(tmp_path / "config.json") in message
    assert f"the checkpoint {tmp_path / 'checkpoints' / 'ckpt-1'} does not fit" in message
    assert "the generator's stem_conv/kernel is 7x7x3x4 there, 7x7x3x8 as built from config.json" in message


def test_restore_checkpoint_names_a_weight_count_that_differs(tmp_path):
    import tensorflow as tf

    from cartoongan.training.resume import ResumeError, restore_checkpoint

    def checkpoint(*shapes):
        return tf.train.Checkpoint(generator=tf.train.Checkpoint(variables=[tf.Variable(tf.zeros(s)) for s in shapes]))

    path = checkpoint((3, 3), (3,)).save(str(tmp_path / "checkpoints" / "ckpt"))
    restore_checkpoint(checkpoint((3, 3), (3,)), path, str(tmp_path / "config.json"))
    with pytest.raises(ResumeError, match="the generator has 2 weights there, 3 as built from config.json"):
        restore_checkpoint(checkpoint((3, 3), (3,), (2,)), path, str(tmp_path / "config.json"))


@pytest.mark.parametrize("image_size, expected", [
    (36, "--image-size 36: the generator of --init-from .*v3 takes multiples of 16, at least 32"),
    (16, "--image-size 16: the generator of --init-from .*v3 takes multiples of 16, at least 32"),
])
def test_a_crop_the_presets_generator_cannot_take_is_refused(data, tmp_path, image_size, expected):
    """A fine-tune of a stride-16 AnimeGANv3 preset (min_size 32) on crops it cannot take:
    refused before any model is built, naming --image-size (36 crashed in the first step)."""
    import re

    import keras

    from cartoongan.families.animegan_v3.generator import AnimeGanV3Generator
    from cartoongan.presets import Preprocessing, save_preset

    keras.utils.set_random_seed(0)
    preset = save_preset(AnimeGanV3Generator(filters=4, tiny_layout=1), tmp_path / "v3", Preprocessing("RGB", 16, 32),
                         name="v3")
    with pytest.raises(ParameterError) as error_info:
        resolve_config(data, str(tmp_path / "w"), init_from=str(preset), image_size=image_size)
    assert error_info.value.field == "image_size"
    assert re.fullmatch(expected, error_info.value.explain(lambda name: "--" + name.replace("_", "-")))
    assert resolve_config(data, str(tmp_path / "w"), init_from=str(preset), image_size=48).image_size == 48
