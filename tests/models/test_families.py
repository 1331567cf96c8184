"""One folder per model family: the registries are built from the folders, reading them costs
no TensorFlow, a new folder is a new family, and training, presets and conversion share one
bounds table and one name per family."""

import json
import subprocess
import sys

import pytest

from cartoongan.families import FAMILIES, GENERATOR_BOUNDS, STYLE_TABLE, TRAINABLE_FAMILIES, family_name
from cartoongan.presets import PresetError, validate_preset_config
from cartoongan.training.config import _SET_BY_OPTIONS, ConfigError, TrainConfig
from tests.conftest import PROJECT_ROOT


def _python(code):
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_reading_every_registry_imports_no_tensorflow():
    loaded = _python(
        "import json, sys\n"
        "from cartoongan.families import FAMILIES, STYLE_TABLE, GENERATOR_BOUNDS, style_files\n"
        "from cartoongan.presets import STYLES, available_presets\n"
        "from cartoongan.training.config import GENERATOR_CLASSES\n"
        "[style_files(s) for s in STYLE_TABLE]; available_presets()\n"
        "print(json.dumps([m for m in ('tensorflow', 'keras') if m in sys.modules]))")
    assert loaded == []


def test_a_new_folder_is_a_new_family_in_every_registry(tmp_path):
    """A family defined in a folder nothing else names shows up in the style table, the
    bounds, the training choices and the preset check."""
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "__init__.py").write_text(
        "from cartoongan.families.family import Family, StyleSource\n"
        "FAMILY = Family(name='toy', generator='toy_module:ToyGenerator', converters='toy_module:convert',\n"
        "                bounds={'filters': (1, 8)},\n"
        "                styles=(StyleSource('toy_style', 'toy', 'd', 'x', 'l', 'RGB', 'file:///nowhere',\n"
        "                                    {'w.bin': '0' * 64}),))\n")
    found = _python(
        "import json, sys, cartoongan.families as f\n"
        f"f.__path__.append({str(tmp_path)!r})\n"
        "families = f._discover()\n"
        "print(json.dumps({'families': sorted(families), 'styles': [s.name for s in families['toy'].styles],\n"
        "                  'class': families['toy'].generator_class}))")
    assert found == {"families": sorted([*FAMILIES, "toy"]), "styles": ["toy_style"], "class": "ToyGenerator"}


def test_every_style_names_a_family_with_a_converter_for_its_files():
    from cartoongan.families import style_files

    for name, row in STYLE_TABLE.items():
        family = FAMILIES[row.family]
        assert family.converter_for(style_files(name)).count(":") == 1, name
        assert row.channel_order in ("RGB", "BGR") and row.size_multiple >= 1, name


def test_one_name_per_family_and_the_old_training_name_still_works():
    assert family_name("full") == "cartoongan" and family_name("cartoongan") == "cartoongan"
    with pytest.raises(ValueError, match="unknown model family 'fulll'"):
        family_name("fulll")
    assert "full" not in TRAINABLE_FAMILIES
    config = TrainConfig(data="d", workdir="w", generator="full")
    assert config.generator == "cartoongan"
    stored = {**json.loads(config.to_json()), "generator": "full"}  # a run's config.json from before
    config.check_resumable_from(stored)


def test_the_generator_flag_takes_the_old_name():
    from cartoongan.cli.train import build_parser

    args = build_parser().parse_args(["--data", "d", "--workdir", "w", "--generator", "full"])
    assert args.generator == "cartoongan"


@pytest.mark.parametrize("family", TRAINABLE_FAMILIES)
def test_a_config_training_accepts_is_a_preset_the_check_accepts(family):
    """Training checks generator configs against the table presets are checked against: at
    each bound both accept, one past it training refuses before any work."""
    class_name = FAMILIES[family].generator_class
    for key, (low, high) in GENERATOR_BOUNDS[class_name].items():
        if key in _SET_BY_OPTIONS:  # set by options of their own (--photo-path, ...)
            continue
        for value in (low, high):
            TrainConfig(data="d", workdir="w", generator=family, generator_config={key: value})
            validate_preset_config({"generator": {"class_name": class_name, "config": {key: value}}})
        with pytest.raises(ConfigError, match=f"{key}={high + 1} is outside {low}..{high}"):
            TrainConfig(data="d", workdir="w", generator=family, generator_config={key: high + 1})
        with pytest.raises(PresetError, match=f"{high + 1} is outside the sane range {low}..{high}"):
            validate_preset_config({"generator": {"class_name": class_name, "config": {key: high + 1}}})


def test_the_reported_config_is_refused_before_training():
    """`--generator full --generator-config '{"filters": 300}'` used to train, then die at its
    first preset save."""
    with pytest.raises(ConfigError, match="filters=300 is outside 1..256"):
        TrainConfig(data="d", workdir="w", generator="full", generator_config={"filters": 300})


@pytest.mark.parametrize("family", [f for f in TRAINABLE_FAMILIES
                                    if "photo_path_median" in GENERATOR_BOUNDS[FAMILIES[f].generator_class]])
def test_a_preset_with_a_median_window_the_path_cannot_build_is_refused_by_name(family):
    """photo_path_median's bounds are 0..9 but MedianFilter builds 3, 5, 7 and 9 only: an even
    window (a hand-edited config.json) is refused by the preset check, naming the field and the
    windows, instead of failing later while the generator is built; 0 and each window pass."""
    class_name = FAMILIES[family].generator_class
    for window in (0, 3, 5, 7, 9):
        validate_preset_config({"generator": {"class_name": class_name, "config": {"photo_path_median": window}}})
    for window in (1, 4, 8):
        with pytest.raises(PresetError, match=r"generator\.config\.photo_path_median: "
                                              rf"{window} is not a median window the path builds \(0, 3, 5, 7, 9\)"):
            validate_preset_config({"generator": {"class_name": class_name, "config": {"photo_path_median": window}}})
