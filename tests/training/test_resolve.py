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
    (workdir / "config.json").write_text(json.dumps({"generator": "light", "discriminator_norm": "none", "warmup_steps": 100, "photo_path": "on"}))
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
