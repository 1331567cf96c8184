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
    assert config.generator == "full" and config.generator_lr == FINE_TUNE_GENERATOR_LR
    scratch = resolve_config(data, str(tmp_path / "w"))
    assert scratch.generator == "full" and scratch.generator_lr == SCRATCH_GENERATOR_LR


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
    (workdir / "config.json").write_text(json.dumps({"generator": "light", "discriminator_norm": "none", "warmup_steps": 100}))
    with pytest.raises(ValueError, match="holds a run with generator='light'"):
        resolve_config(data, str(workdir))
    assert resolve_config(data, str(workdir), generator="light").generator == "light"
