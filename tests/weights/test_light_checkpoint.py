import json

import numpy as np
import pytest

from cartoongan.families.light.convert import checkpoint_to_keras_name, load_light_weights, read_checkpoint_variables
from cartoongan.families.light.generator import LightGenerator
from cartoongan.presets import convert_light_checkpoint
from tests.conftest import shared_path

STYLES = ("shinkai", "paprika")
SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


def _checkpoint_dir(style):
    return shared_path("weights", "cartoongan-tensorflow-light", f"light_{style}_ckpt")


@pytest.fixture(scope="module")
def shinkai_variables():
    return read_checkpoint_variables(_checkpoint_dir("shinkai") / "generator")


@pytest.mark.parametrize(
    "variable, expected",
    [
        ("flat_conv1/model/layer-1/kernel", ("stem_conv", "kernel")),
        ("flat_conv1/model/layer-2/gamma", ("stem_norm", "scale")),
        ("down_conv1/r_model/layer-3/depthwise_kernel", ("down1_right_dwconv", "kernel")),
        ("down_conv2/l_model/layer-2/kernel", ("down2_left_conv", "kernel")),
        ("down_conv2/bn_act/layer-0/beta", ("down2_norm", "shift")),
        ("residual_blocks/layer-2/model/layer-5/kernel", ("res3_branch_conv2", "kernel")),
        ("residual_blocks/layer-7/model/layer-6/gamma", ("res8_branch_norm3", "scale")),
        ("up_conv1/model/layer-0/bias", ("up1_conv", "bias")),
        ("up_conv2/model/layer-1/model/layer-3/depthwise_kernel", ("up2_branch_dwconv", "kernel")),
        ("final_conv/layer-1/kernel", ("head_conv", "kernel")),
    ],
)
def test_checkpoint_names_map_to_keras_layers(variable, expected):
    assert checkpoint_to_keras_name(variable + SUFFIX) == expected


@pytest.mark.parametrize(
    "variable",
    ["optimizer/iter", "residual_blocks/layer-0/model/layer-2/kernel", "down_conv1/bn_act/layer-1/gamma", "final_conv/layer-0/kernel"],
)
def test_unknown_checkpoint_names_are_refused(variable):
    with pytest.raises(KeyError, match=variable):
        checkpoint_to_keras_name(variable + SUFFIX)


def test_checkpoint_fills_every_variable_exactly_once(shinkai_variables):
    generator = LightGenerator()
    assert len(shinkai_variables) == len(generator.weights)
    assert sum(v.size for v in shinkai_variables.values()) == generator.count_params()
    targets = {checkpoint_to_keras_name(name) for name in shinkai_variables}
    assert len(targets) == len(shinkai_variables)
    load_light_weights(generator, shinkai_variables)
    kernel = generator.get_layer("res3_branch_dwconv").kernel.numpy()
    np.testing.assert_array_equal(
        kernel, shinkai_variables["residual_blocks/layer-2/model/layer-3/depthwise_kernel" + SUFFIX]
    )


def test_incomplete_or_foreign_checkpoint_fails_loudly(shinkai_variables):
    generator = LightGenerator()
    incomplete = dict(shinkai_variables)
    del incomplete["residual_blocks/layer-3/model/layer-4/beta" + SUFFIX]
    with pytest.raises(ValueError, match="res4_branch_norm2/shift"):
        load_light_weights(generator, incomplete)
    with pytest.raises(KeyError, match="discriminator"):
        load_light_weights(generator, {**shinkai_variables, "discriminator/layer-0/kernel" + SUFFIX: np.zeros(1)})
    # A generator with fewer residual blocks has no home for the checkpoint's last ones.
    with pytest.raises(KeyError, match="res8"):
        load_light_weights(LightGenerator(num_residual_blocks=7), shinkai_variables)
    wrong_shape = {**shinkai_variables, "up_conv1/model/layer-0/bias" + SUFFIX: np.zeros(3)}
    with pytest.raises(ValueError, match="up1_conv/bias"):
        load_light_weights(generator, wrong_shape)


@pytest.mark.parametrize("style", STYLES)
def test_checkpoint_reproduces_golden_outputs(style):
    from cartoongan.families.light.convert import load_light_checkpoint

    golden = np.load(shared_path("golden", "cartoongan_tf_light.npz"))
    generator = load_light_checkpoint(LightGenerator(), _checkpoint_dir(style))  # a directory works too
    for k in range(4):
        expected = golden[f"light_{style}/output_{k}"]
        output = generator.predict(golden[f"light_{style}/input_{k}"], verbose=0)
        assert output.shape == expected.shape  # the odd 75x53 input comes out 76x56
        assert np.abs(output - expected).max() <= 1e-4, k


@pytest.fixture(scope="module")
def paprika_preset(tmp_path_factory):
    directory = tmp_path_factory.mktemp("light") / "light_paprika"
    return convert_light_checkpoint(_checkpoint_dir("paprika") / "generator", directory, name="light_paprika")


def test_converted_preset_runs_in_the_cartoonizer(paprika_preset):
    from cartoongan import Cartoonizer, load_generator

    config = json.loads((paprika_preset / "config.json").read_text())
    assert config["generator"]["class_name"] == "LightGenerator"
    assert config["preprocessing"]["channel_order"] == "RGB"
    assert config["name"] == "light_paprika"
    assert config["license"] == "CartoonGan-tensorflow, Apache-2.0"

    cartoonizer = Cartoonizer.from_pretrained(paprika_preset, precision="float32")
    rng = np.random.default_rng(0)
    odd = rng.integers(0, 256, (53, 75, 3), dtype=np.uint8)
    result = cartoonizer(odd)
    assert result.dtype == np.uint8 and result.shape == odd.shape

    # On a multiple of 4 the contract is exactly RGB [-1, 1] in and out of the raw generator.
    image = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    raw = load_generator(paprika_preset).predict(image[None] / 127.5 - 1.0, verbose=0)[0]
    expected = np.clip(np.round((raw + 1.0) * 127.5), 0, 255)
    assert np.abs(cartoonizer(image).astype(int) - expected).max() <= 1


def test_cli_writes_a_loadable_preset(tmp_path):
    from cartoongan.cli.convert_light_checkpoint import main
    from cartoongan.presets import read_preset_config

    output = tmp_path / "light_shinkai"
    assert main(["--checkpoint", str(_checkpoint_dir("shinkai")), "--output", str(output)]) == 0
    assert read_preset_config(output)["name"] == "light_shinkai"
    with pytest.raises(SystemExit) as exit_info:  # refuses to replace without --overwrite
        main(["--checkpoint", str(_checkpoint_dir("shinkai")), "--output", str(output)])
    assert exit_info.value.code == 2


def test_cli_rejects_a_missing_checkpoint(tmp_path, capsys):
    from cartoongan.cli.convert_light_checkpoint import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--checkpoint", str(tmp_path / "nothing"), "--output", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "nothing" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
