"""The custom layers against their definitions: instance norm (per channel and over all
axes), AnimeGANv2's layer norm, White-box's guided filter, asymmetric reflection padding,
TF1's legacy bilinear upsampling, channel shuffle."""

import numpy as np
import pytest

from cartoongan.models.layers import (
    ChannelShuffle,
    GuidedFilter,
    ImageLayerNormalization,
    InstanceNormalization,
    LegacyBilinearUpsampling2D,
    ReflectionPadding2D,
)


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


def test_image_layer_norm_is_tf1_contrib_layer_norm():
    # tf.contrib.layers.layer_norm(begin_norm_axis=1, begin_params_axis=-1): moments over
    # H, W, C of each image, (x - mean) / sqrt(var + 1e-12), then per-channel gamma and beta.
    # A large epsilon makes "inside the square root" testable.
    x = np.random.default_rng(5).normal(3.0, 2.0, (2, 5, 4, 3)).astype("float32")
    layer = ImageLayerNormalization(epsilon=0.5)
    layer.build(x.shape)
    layer.scale.assign([1.0, 2.0, 3.0])
    layer.shift.assign([0.0, 1.0, -1.0])
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    var = x.var(axis=(1, 2, 3), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 0.5) * np.array([1, 2, 3]) + np.array([0, 1, -1])
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-5)
    assert ImageLayerNormalization.from_config(layer.get_config()).epsilon == 0.5


def _window_mean(x, r):
    """Mean over the (2r+1)^2 window clipped to the image (the valid pixels only)."""
    out = np.empty_like(x)
    h, w = x.shape[1:3]
    for i in range(h):
        for j in range(w):
            out[:, i, j] = x[:, max(0, i - r):i + r + 1, max(0, j - r):j + r + 1].mean(axis=(1, 2))
    return out


def test_guided_filter_matches_he_et_al_with_clipped_windows():
    rng = np.random.default_rng(6)
    guide = rng.uniform(-1, 1, (1, 6, 5, 3)).astype("float64")
    image = rng.uniform(-1, 1, (1, 6, 5, 3)).astype("float64")
    eps = 5e-3
    mean_g, mean_i = _window_mean(guide, 1), _window_mean(image, 1)
    a = (_window_mean(guide * image, 1) - mean_g * mean_i) / (_window_mean(guide * guide, 1) - mean_g ** 2 + eps)
    b = mean_i - a * mean_g
    expected = _window_mean(a, 1) * guide + _window_mean(b, 1)
    output = GuidedFilter(1, eps)([guide.astype("float32"), image.astype("float32")])
    np.testing.assert_allclose(output, expected, rtol=1e-4, atol=1e-4)


def test_reflection_padding_bottom_right_only():
    x = np.arange(12, dtype="float32").reshape(1, 3, 4, 1)
    layer = ReflectionPadding2D(((0, 1), (0, 1)))
    expected = np.pad(x, [(0, 0), (0, 1), (0, 1), (0, 0)], mode="reflect")
    np.testing.assert_array_equal(layer(x), expected)
    assert ReflectionPadding2D.from_config(layer.get_config()).pads == ((0, 1), (0, 1))
