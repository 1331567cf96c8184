import numpy as np
import pytest

from cartoongan.models.discriminator import CartoonGanDiscriminator


def test_config_round_trip():
    discriminator = CartoonGanDiscriminator(filters=4)
    config = discriminator.get_config()
    assert set(config) == {"name", "trainable", "filters", "normalization"}
    rebuilt = CartoonGanDiscriminator.from_config(config)
    assert rebuilt.get_config() == config
    assert rebuilt.count_params() == discriminator.count_params()


def test_full_size_parameter_count():
    # 3x3 convs with bias: 3->32, 32->64, 64->128, 128->128, 128->256, 256->256, 256->1,
    # plus scale and shift of the three instance norms (128, 256, 256 channels).
    convs = [(3, 32), (32, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 1)]
    expected = sum(9 * i * o + o for i, o in convs) + 2 * (128 + 256 + 256)
    assert CartoonGanDiscriminator().count_params() == expected


@pytest.mark.parametrize("size", [(64, 64), (48, 80)])
def test_patch_logits_are_a_quarter_of_the_input_size(size):
    discriminator = CartoonGanDiscriminator(filters=4)
    output = discriminator(np.random.default_rng(0).uniform(-1, 1, (2, *size, 3)).astype("float32"))
    assert tuple(output.shape) == (2, size[0] // 4, size[1] // 4, 1)


def test_bfloat16_policy_keeps_logits_float32():
    discriminator = CartoonGanDiscriminator(filters=4, dtype="mixed_bfloat16")
    assert discriminator.get_layer("stem_conv").compute_dtype == "bfloat16"
    assert discriminator.get_layer("down1_norm").compute_dtype == "float32"
    assert discriminator(np.zeros((1, 16, 16, 3), "float32")).dtype == "float32"


def test_save_load_weights_round_trip(tmp_path):
    discriminator = CartoonGanDiscriminator(filters=4)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 16, 24, 3)).astype("float32")
    discriminator.save_weights(tmp_path / "d.weights.h5")
    other = CartoonGanDiscriminator(filters=4)
    other.load_weights(tmp_path / "d.weights.h5")
    np.testing.assert_array_equal(discriminator(x), other(x))
