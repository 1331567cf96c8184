"""Golden numbers computed by hand for small fixed logits."""

import math

import numpy as np
import pytest
import tensorflow as tf

from cartoongan import losses

REAL = tf.constant([[[[2.0]], [[0.0]]]])  # patch logits of shape (1, 2, 1, 1)
FAKE = tf.constant([[[[-1.0]], [[1.0]]]])
SMOOTH = tf.constant([[[[0.5]], [[-0.5]]]])


def test_lsgan_generator_loss():
    # mean((-1 - 1)^2, (1 - 1)^2) = (4 + 0) / 2
    assert float(losses.lsgan_generator_loss(FAKE)) == pytest.approx(2.0)


def test_lsgan_discriminator_loss_counts_smoothed_anime_as_fake():
    # real: mean((2-1)^2, (0-1)^2) = 1; fake: mean(1, 1) = 1; smooth: mean(.25, .25) = .25
    assert float(losses.lsgan_discriminator_loss(REAL, FAKE, SMOOTH)) == pytest.approx(2.25)


def _softplus(x):
    return math.log1p(math.exp(x))


def test_bce_generator_loss():
    # -log(sigmoid(x)) = softplus(-x)
    expected = (_softplus(1.0) + _softplus(-1.0)) / 2
    assert float(losses.bce_generator_loss(FAKE)) == pytest.approx(expected, rel=1e-6)


def test_bce_discriminator_loss():
    real = (_softplus(-2.0) + _softplus(0.0)) / 2  # labels 1
    fake = (_softplus(-1.0) + _softplus(1.0)) / 2  # labels 0: -log(1 - sigmoid(x)) = softplus(x)
    smooth = (_softplus(0.5) + _softplus(-0.5)) / 2
    assert float(losses.bce_discriminator_loss(REAL, FAKE, SMOOTH)) == pytest.approx(real + fake + smooth, rel=1e-6)


def test_content_loss_is_l1_mean():
    a = tf.constant([[1.0, -2.0], [0.0, 4.0]])
    b = tf.constant([[0.0, 1.0], [0.0, 0.0]])
    assert float(losses.content_loss(a, b)) == pytest.approx((1 + 3 + 0 + 4) / 4)


def test_vgg_preprocessing_matches_keras_for_rgb_and_bgr():
    import keras

    rgb = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    vgg_rgb = losses.VggFeatures("random", channel_order="RGB")
    vgg_bgr = losses.VggFeatures("random", channel_order="BGR")
    vgg_bgr.model.set_weights(vgg_rgb.model.get_weights())
    expected = vgg_rgb.model(keras.applications.vgg19.preprocess_input((rgb + 1) * 127.5))
    np.testing.assert_allclose(vgg_rgb(rgb), expected, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(vgg_bgr(rgb[..., ::-1]), expected, rtol=1e-4, atol=1e-3)
    assert vgg_rgb.model.output.shape[-1] == 512  # block4_conv4


def test_offline_imagenet_vgg_is_a_clear_error(monkeypatch, tmp_path):
    import keras

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(keras.applications, "VGG19", offline)
    with pytest.raises(RuntimeError, match="--vgg-weights"):
        losses.VggFeatures("imagenet")
