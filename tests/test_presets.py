"""The preset reader: every config.json from anywhere is either a sane preset or a PresetError
naming the file (fuzzed with Hypothesis), and presets are written only when they are valid."""

import inspect
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartoongan.families import GENERATOR_BOUNDS, generator_class
from cartoongan.presets import (
    Preprocessing,
    PresetError,
    read_preset_config,
    save_preset,
    validate_preset_config,
)

VALID = {
    "generator": {"class_name": "CartoonGanGenerator", "config": {"name": "g", "trainable": True, "filters": 4,
                                                                  "num_residual_blocks": 1}},
    "preprocessing": {"channel_order": "BGR", "size_multiple": 4},
    "name": "tiny",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
# Keys a mutation may touch: the real ones (so that types and bounds get exercised) and others.
paths = st.sampled_from([
    ("name",), ("generator",), ("generator", "class_name"), ("generator", "config"),
    ("generator", "config", "filters"), ("generator", "config", "num_residual_blocks"),
    ("generator", "config", "end_kernel_size"), ("generator", "config", "dtype"), ("preprocessing",),
    ("preprocessing", "channel_order"), ("preprocessing", "size_multiple"), ("preprocessing", "min_size"),
    ("training",), ("other",),
])


def _mutated(path, value):
    config = json.loads(json.dumps(VALID))
    node = config
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    return config


def _check_sane(config):
    """What a config that passed must guarantee to the code that builds the model."""
    parameters = config["generator"].get("config", {})
    bounds = GENERATOR_BOUNDS[config["generator"]["class_name"]]
    for key, (low, high) in bounds.items():
        if key in parameters:
            assert type(parameters[key]) is int and low <= parameters[key] <= high
    assert set(parameters) <= set(bounds) | {"name", "trainable"}
    Preprocessing(**config.get("preprocessing", {}))
    name = config.get("name", "x")
    assert "/" not in name and "\\" not in name and name not in (".", "..") and not name.startswith(".")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=paths, value=json_values)
def test_mutated_configs_are_valid_or_refused_by_name(tmp_path, path, value):
    (tmp_path / "config.json").write_text(json.dumps(_mutated(path, value)))
    try:
        config = read_preset_config(tmp_path)
    except PresetError as error:
        assert str(tmp_path / "config.json") in str(error)
        assert "\n" not in str(error)
    else:
        _check_sane(config)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_files_are_refused_by_name(tmp_path, data):
    (tmp_path / "config.json").write_bytes(data)
    try:
        config = read_preset_config(tmp_path)
    except PresetError as error:
        assert str(tmp_path / "config.json") in str(error)
    else:
        _check_sane(config)


@pytest.mark.parametrize("text", ['{"generator": NaN}', '{"name": Infinity}', '{"a": ' * 5000])
def test_non_json_constants_and_deep_nesting_are_refused(tmp_path, text):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(PresetError, match="not valid JSON|expected|unknown"):
        read_preset_config(tmp_path)


def test_bounds_cover_every_generator_and_its_parameters():
    for name in GENERATOR_BOUNDS:
        cls = generator_class(name)
        parameters = set(inspect.signature(cls.__init__).parameters) - {"self", "dtype", "kwargs"}
        assert cls.__name__ == name and set(GENERATOR_BOUNDS[name]) == parameters, name


def test_valid_config_passes():
    assert validate_preset_config(json.loads(json.dumps(VALID)))["name"] == "tiny"


@pytest.mark.parametrize("metadata, message", [
    ({"name": "../escaped"}, "not a valid preset name"),
    ({"name": ".."}, "not a valid preset name"),
    ({"training": {"loss": math.nan}}, "config.training.loss: nan cannot be written"),
])
def test_invalid_presets_are_never_written(tmp_path, tiny_preset, metadata, message):
    from cartoongan.presets import load_generator

    generator = load_generator(tiny_preset)
    with pytest.raises(PresetError, match=message):
        save_preset(generator, tmp_path / "out", Preprocessing("BGR"), **metadata)
    assert not (tmp_path / "out").exists()


def test_every_listed_style_has_a_human_description_and_licence(capsys):
    """--list-styles (and the web page, through the same style_summary): a description for
    people, not a class name and filter counts, for the table's styles and the shipped
    hayao_lite; the two TFLite-born styles say they are non-commercial."""
    from cartoongan.cli.cartoonize import list_styles
    from cartoongan.presets import STYLES, style_summary

    list_styles()
    listed = capsys.readouterr().out
    for name in [*STYLES, "hayao_lite"]:
        assert name in listed
    for name in ("whitebox", "animeganv2_hayao"):
        description, license, details = style_summary(name)
        assert "non-commercial" in description.lower() and "non-commercial" in license.lower() and details
    assert "Generator" not in listed and "filters" not in listed
    assert "hayao's painted anime look" in listed
    # one column of statuses, the longest style name included (animeganv3_shinkai overran a 16-wide one)
    starts = {line.index(status) for line in listed.splitlines()
              for status in ("shipped", "downloaded on first use", "cached") if f" {status} " in line}
    assert len(starts) == 1, starts
