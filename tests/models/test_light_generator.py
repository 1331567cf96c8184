import keras
import numpy as np
import pytest

from cartoongan.models import GENERATORS, LightGenerator, build_generator
from cartoongan.models.layers import ChannelShuffle, InstanceNormalization, LegacyBilinearUpsampling2D

TINY = dict(filters=8, num_residual_blocks=1, end_kernel_size=3)


def _legacy_bilinear_x2(x):
    """TF1 resize_bilinear(align_corners=False, half_pixel_centers=False), factor 2, in numpy:
    source coordinate j / 2, neighbour index clamped to the last row/column."""

    def axis(x, a):
        n = x.shape[a]
        out = []
        for j in range(2 * n):
            lo, frac = j // 2, (j % 2) * 0.5
            hi = min(lo + 1, n - 1)
            out.append(np.take(x, lo, axis=a) * (1 - frac) + np.take(x, hi, axis=a) * frac)
        return np.stack(out, axis=a)

    return axis(axis(x, 1), 2)


def test_registered_as_preset_generator():
    assert GENERATORS["LightGenerator"] is LightGenerator


def test_config_round_trip():
    generator = LightGenerator(**TINY)
    config = generator.get_config()
    assert set(config) == {"name", "trainable", "filters", "num_residual_blocks", "end_kernel_size"}
    rebuilt = build_generator("LightGenerator", config)
    assert rebuilt.get_config() == config
    assert rebuilt.count_params() == generator.count_params()


def test_full_size_parameter_count_matches_checkpoints():
    # The published light checkpoints hold 878,433 parameters.
    assert LightGenerator().count_params() == 878_433


@pytest.mark.parametrize("size, expected", [((64, 96), (64, 96)), ((75, 53), (76, 56)), ((5, 7), (8, 8)), ((1, 1), (4, 4))])
def test_output_size_rounds_up_to_multiple_of_four(size, expected):
    generator = LightGenerator(**TINY)
    output = generator(np.zeros((2, *size, 3), "float32"))
    assert tuple(output.shape) == (2, *expected, 3)


def test_save_load_weights_round_trip(tmp_path):
    generator = LightGenerator(**TINY)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 16, 12, 3)).astype("float32")
    generator.save_weights(tmp_path / "g.weights.h5")
    other = LightGenerator(**TINY)
    other.load_weights(tmp_path / "g.weights.h5")
    np.testing.assert_array_equal(generator(x), other(x))


def test_full_model_save_load_round_trip(tmp_path):
    generator = LightGenerator(**TINY)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 12, 20, 3)).astype("float32")
    generator.save(tmp_path / "g.keras")
    other = keras.saving.load_model(tmp_path / "g.keras")
    assert isinstance(other, LightGenerator)
    np.testing.assert_array_equal(generator(x), other(x))


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 1, 1, 2), (1, 6, 2, 3)])
def test_legacy_bilinear_upsampling_matches_tf1_rule(shape):
    x = np.random.default_rng(2).normal(size=shape).astype("float32")
    output = LegacyBilinearUpsampling2D()(x)
    np.testing.assert_allclose(output, _legacy_bilinear_x2(x), rtol=1e-6, atol=1e-6)
    # The rule itself: even rows/columns copy the input, odd ones are midpoints.
    np.testing.assert_array_equal(np.asarray(output)[:, ::2, ::2], x)


def test_legacy_bilinear_upsampling_matches_tf_compat_v1_resize():
    import tensorflow as tf

    x = np.random.default_rng(3).normal(size=(2, 7, 4, 3)).astype("float32")
    expected = tf.compat.v1.image.resize_bilinear(x, [14, 8], align_corners=False, half_pixel_centers=False)
    np.testing.assert_allclose(LegacyBilinearUpsampling2D()(x), expected, rtol=1e-6, atol=1e-6)


def test_channel_shuffle_interleaves_the_halves():
    x = np.arange(2 * 2 * 3 * 6, dtype="float32").reshape(2, 2, 3, 6)
    output = np.asarray(ChannelShuffle(2)(x))
    np.testing.assert_array_equal(output[..., 0::2], x[..., :3])
    np.testing.assert_array_equal(output[..., 1::2], x[..., 3:])


def test_instance_norm_over_all_axes_divides_by_std_plus_epsilon():
    # keras-contrib InstanceNormalization(axis=None): statistics over H, W and C together.
    x = np.random.default_rng(4).normal(3.0, 2.0, (2, 5, 4, 3)).astype("float32")
    layer = InstanceNormalization(epsilon=1e-3, per_channel=False)
    layer.build(x.shape)
    layer.scale.assign([1.5])
    layer.shift.assign([-0.5])
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = x.std(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(layer(x), (x - mean) / (std + 1e-3) * 1.5 - 0.5, rtol=1e-5, atol=1e-5)


def test_bfloat16_policy_runs_only_the_convolutions_in_low_precision():
    generator = LightGenerator(**TINY, dtype="mixed_bfloat16")
    assert generator.get_layer("stem_conv").compute_dtype == "bfloat16"
    assert generator.get_layer("res1_branch_dwconv").compute_dtype == "bfloat16"
    assert generator.get_layer("stem_norm").compute_dtype == "float32"
    assert generator.get_layer("res1_concat").compute_dtype == "float32"
    assert generator.output.dtype == "float32"
    output = generator(np.zeros((1, 8, 8, 3), "float32"))
    assert output.dtype == "float32"
