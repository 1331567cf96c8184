import numpy as np
import pytest

from cartoongan.models import CartoonGanGenerator, build_generator
from cartoongan.models.layers import InstanceNormalization


def test_config_round_trip():
    generator = CartoonGanGenerator(filters=4, num_residual_blocks=2)
    config = generator.get_config()
    rebuilt = build_generator("CartoonGanGenerator", config)
    assert rebuilt.get_config() == config
    assert rebuilt.count_params() == generator.count_params()


def test_full_size_parameter_count_matches_upstream():
    # 94 upstream tensors of the original network hold 11,129,667 parameters.
    assert CartoonGanGenerator().count_params() == 11_129_667


@pytest.mark.parametrize("size, expected", [((64, 96), (64, 96)), ((75, 53), (76, 56)), ((5, 7), (8, 8))])
def test_output_size_rounds_up_to_multiple_of_four(size, expected):
    generator = CartoonGanGenerator(filters=4, num_residual_blocks=1)
    output = generator(np.zeros((1, *size, 3), "float32"))
    assert tuple(output.shape) == (1, *expected, 3)


def test_save_load_weights_round_trip(tmp_path):
    generator = CartoonGanGenerator(filters=4, num_residual_blocks=1)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 16, 12, 3)).astype("float32")
    generator.save_weights(tmp_path / "g.weights.h5")
    other = CartoonGanGenerator(filters=4, num_residual_blocks=1)
    other.load_weights(tmp_path / "g.weights.h5")
    np.testing.assert_array_equal(generator(x), other(x))


def test_instance_norm_divides_by_std_plus_epsilon():
    x = np.random.default_rng(1).normal(3.0, 2.0, (2, 5, 4, 3)).astype("float32")
    layer = InstanceNormalization(epsilon=0.5)
    layer.build(x.shape)
    layer.scale.assign([1.0, 2.0, 3.0])
    layer.shift.assign([0.0, 1.0, -1.0])
    mean = x.mean(axis=(1, 2), keepdims=True)
    std = x.std(axis=(1, 2), keepdims=True)
    expected = (x - mean) / (std + 0.5) * np.array([1, 2, 3]) + np.array([0, 1, -1])
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-5)


def test_bfloat16_policy_keeps_norms_and_residuals_in_float32():
    generator = CartoonGanGenerator(filters=4, num_residual_blocks=1, dtype="mixed_bfloat16")
    assert generator.get_layer("stem_conv").compute_dtype == "bfloat16"
    assert generator.get_layer("stem_norm").compute_dtype == "float32"
    assert generator.get_layer("res1_add").compute_dtype == "float32"
    assert generator.output.dtype == "float32"
