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
    # The features are Keras' divided by FEATURE_SCALE (the content weight's scale).
    expected = vgg_rgb.model(keras.applications.vgg19.preprocess_input((rgb + 1) * 127.5)) / losses.VggFeatures.FEATURE_SCALE
    np.testing.assert_allclose(vgg_rgb(rgb), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(vgg_bgr(rgb[..., ::-1]), expected, rtol=1e-4, atol=1e-5)
    assert vgg_rgb.model.output.shape[-1] == 512  # block4_conv4


def test_offline_imagenet_vgg_is_a_clear_error(monkeypatch, tmp_path):
    import keras

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(keras.applications, "VGG19", offline)
    with pytest.raises(losses.VggWeightsError, match="no network") as error_info:
        losses.VggFeatures("imagenet")
    error = error_info.value  # names the parameter, and a CLI's flags through explain
    assert error.field == "vgg_weights" and str(error).startswith("vgg_weights imagenet: cannot get")
    flags = error.explain(lambda field: "--" + field.replace("_", "-"))
    assert "set --vgg-weights to a file" in flags and "see --content-features" in flags


def _h5_with(path, arrays):
    import h5py

    with h5py.File(path, "w") as f:
        for name, shape in arrays.items():
            f.create_dataset(name, shape=shape, dtype="float32")  # no data written: a tiny file


def test_vgg19_weights_files_are_checked_by_layer_names_and_shapes(tmp_path):
    # The layout of keras-applications' vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5.
    layout = {f"{layer}/{layer}_W_1:0": shape for layer, shape in losses.VGG19_CONTENT_KERNELS.items()}
    _h5_with(tmp_path / "vgg.h5", layout)
    losses.check_vgg19_weights_file(str(tmp_path / "vgg.h5"))

    wrong = dict(layout)
    wrong["block3_conv2/block3_conv2_W_1:0"] = (3, 3, 256, 128)
    _h5_with(tmp_path / "wrong.h5", wrong)
    with pytest.raises(losses.VggWeightsError, match=r"^vgg_weights .*wrong.h5: not VGG19 weights: no block3_conv2 "
                                                     r"kernel of shape \(3, 3, 256, 256\)"):
        losses.check_vgg19_weights_file(str(tmp_path / "wrong.h5"))
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(losses.VggWeightsError, match="not an HDF5 weights file"):
        losses.check_vgg19_weights_file(str(tmp_path / "text.h5"))
    with pytest.raises(losses.VggWeightsError, match="not VGG19"):
        losses.VggFeatures(str(tmp_path / "wrong.h5"))


def test_random_vgg_is_the_same_network_in_every_run():
    # A resumed run must optimise the same content loss as the run it continues.
    x = np.random.default_rng(1).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(losses.VggFeatures("random")(x), losses.VggFeatures("random")(x))


def test_auto_content_features_use_the_encoder_stand_in_without_real_vgg_weights():
    rgb = np.random.default_rng(2).uniform(-1, 1, (1, 32, 40, 3)).astype("float32")
    features = losses.content_features("auto", "random", "RGB")
    assert isinstance(features, losses.GeneratorEncoderFeatures)
    stem, down2 = features(rgb)
    assert stem.shape == (1, 32, 40, 24)  # hayao_lite's 7x7 stem convolution, before its first norm
    assert down2.shape == (1, 8, 10, 96)  # hayao_lite's down2: 1/4 size, 4 x 24 filters
    # Given BGR images, it converts them to the stand-in's own RGB.
    bgr_features = losses.content_features("encoder", "imagenet", "BGR")
    for bgr, own in zip(bgr_features(rgb[..., ::-1]), features(rgb)):
        np.testing.assert_allclose(bgr, own, atol=1e-5)


def test_encoder_content_loss_sees_a_darkened_image():
    # The instance-normed layers alone are blind to brightness and contrast (the loss of a
    # photo against its copy at 15% of the range was 4e-7): a fine-tune went black unnoticed.
    rng = np.random.default_rng(3)
    photo = np.clip(rng.normal(0, 0.4, (1, 32, 32, 3)) + np.linspace(-0.5, 0.5, 32)[:, None, None], -1, 1).astype("float32")
    other = np.clip(rng.normal(0, 0.4, (1, 32, 32, 3)), -1, 1).astype("float32")
    dark = 0.15 * (photo + 1.0) - 1.0
    features = losses.GeneratorEncoderFeatures()
    blind = losses.GeneratorEncoderFeatures(layers=("down2_relu",))
    assert float(losses.content_loss(blind(photo), blind(dark))) < 1e-3
    # With the stem, darkening costs at least half of what a different image does.
    darkened = float(losses.content_loss(features(photo), features(dark)))
    assert darkened > 0.5 * float(losses.content_loss(features(photo), features(other)))
    assert isinstance(losses.content_features("vgg", "random", "RGB"), losses.VggFeatures)
    with pytest.raises(ValueError, match="content features"):
        losses.content_features("pixels", "random", "RGB")


def test_checkerboard_loss_counts_only_pixel_period_energy_beyond_the_photo():
    flat = tf.zeros((1, 4, 4, 1))
    board = tf.constant((np.indices((4, 4)).sum(0) % 2).astype("float32")[None, ..., None])  # 0/1 alternating
    edge = tf.constant(np.repeat([[0, 0, 1, 1]], 4, axis=0).astype("float32")[None, ..., None])
    # Each 2x2 window of a 0/1 board: |a - b - c + d| = 2; each 3-pixel run along a row or a
    # column: |a - 2b + c| = 2.
    assert float(losses.checkerboard_loss(board, flat)) == pytest.approx(2.0 + 2.0 + 2.0)
    # A straight edge: no checkerboard; the stripe kernel sees its bend along the rows, |0 - 0 + 1| = 1
    # and |0 - 2 + 1| = 1, and nothing along the columns; it costs nothing where the photo has it.
    assert float(tf.reduce_mean(losses._checkerboard(edge))) == 0.0
    assert float(losses.checkerboard_loss(edge, flat)) == pytest.approx(1.0)
    assert float(losses.checkerboard_loss(edge, edge)) == pytest.approx(0.0)
    stripes = tf.constant((np.indices((4, 4))[1] % 2).astype("float32")[None, ..., None])  # vertical stripes
    assert float(losses.checkerboard_loss(stripes, flat)) == pytest.approx(2.0)  # only the stripe kernel sees them
    assert float(losses.checkerboard_loss(board, board)) == pytest.approx(0.0)  # the photo has it too
    assert float(losses.checkerboard_loss(0.5 * board, board)) == pytest.approx(0.0)  # never below zero


def test_edge_weight_scales_the_smoothed_term():
    # lsgan smooth term: mean(.25, .25) = .25; real 1 + fake 1 (see above)
    assert float(losses.lsgan_discriminator_loss(REAL, FAKE, SMOOTH, edge_weight=0.0)) == pytest.approx(2.0)
    assert float(losses.lsgan_discriminator_loss(REAL, FAKE, SMOOTH, edge_weight=2.0)) == pytest.approx(2.5)


def test_palette_loss_is_the_distance_to_the_nearest_anime_colour_and_pulls_toward_it():
    dark, light = [-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]
    anime = tf.constant(np.array([[dark, light] * 8] * 16, np.float32)[None])  # a two-colour palette, 16x16
    near_light = tf.Variable(np.full((1, 8, 8, 3), [0.2, 0.5, 0.5], np.float32))  # 0.3 from `light`
    with tf.GradientTape() as tape:
        loss = losses.palette_loss(near_light, anime)
    assert float(loss) == pytest.approx(0.3, abs=1e-3)
    step = -tape.gradient(loss, near_light).numpy()  # what gradient descent does to each pixel
    assert (step[..., 0] > 0).all() and np.allclose(step[..., 1:], 0.0, atol=1e-7)  # red rises toward 0.5
    assert float(losses.palette_loss(tf.reverse(anime, [1]), anime)) == pytest.approx(0.0, abs=2e-3)  # on-palette
    # Halfway between the two colours, a pixel is as far (0.5 * sqrt(3)) from each.
    assert float(losses.palette_loss(tf.zeros((1, 4, 4, 3)), anime)) == pytest.approx(0.75 ** 0.5, abs=1e-3)


def test_palette_loss_with_a_seed_draws_the_same_pixels_every_time():
    rng = np.random.default_rng(4)
    generated = tf.constant(rng.uniform(-1, 1, (2, 16, 16, 3)).astype("float32"))
    anime = tf.constant(rng.uniform(-1, 1, (2, 16, 16, 3)).astype("float32"))
    seed = tf.constant([7, 3], tf.int64)
    first = float(losses.palette_loss(generated, anime, seed=seed, generated_pixels=64, anime_pixels=8))
    assert float(losses.palette_loss(generated, anime, seed=seed, generated_pixels=64, anime_pixels=8)) == first
    other = float(losses.palette_loss(generated, anime, seed=tf.constant([7, 4], tf.int64), generated_pixels=64, anime_pixels=8))
    assert other != first  # another step draws other pixels


def test_photo_colour_loss_is_l1_in_yuv_with_chroma_weighed():
    photo = tf.zeros((1, 2, 2, 3))
    # A grey shift moves only the luma (U and V of grey are 0): mean |dY, dU, dV| = 0.1 / 3.
    assert float(losses.photo_colour_loss(photo + 0.1, photo)) == pytest.approx(0.1 / 3, rel=1e-5)
    blue = tf.constant([0.0, 0.0, 0.3])  # a colour cast: 0.3 of blue is Y 0.0342, U 0.1308, V -0.0300
    assert float(losses.photo_colour_loss(photo + blue, photo)) == pytest.approx((0.0342 + 0.1308 + 0.0300) / 3, rel=1e-3)
    assert float(losses.photo_colour_loss(photo, photo)) == 0.0
    # chroma=0 (the training default) holds the luma only: the cast's U and V cost nothing.
    assert float(losses.photo_colour_loss(photo + blue, photo, chroma=0.0)) == pytest.approx(0.0342 / 3, rel=1e-3)


def test_photo_colour_loss_without_level_holds_the_pattern_of_light_not_its_level():
    """level=False: a uniform darkening of the whole output costs nothing, a change of its
    pattern of light (one half brighter, the other darker) costs what it costs with the level."""
    photo = tf.constant(np.random.default_rng(1).uniform(-0.5, 0.5, (2, 8, 8, 3)), tf.float32)
    darker = photo - 0.3
    assert float(losses.photo_colour_loss(darker, photo, pool=4)) == pytest.approx(0.1, rel=1e-4)
    assert float(losses.photo_colour_loss(darker, photo, pool=4, level=False)) == pytest.approx(0.0, abs=1e-6)
    tilt = np.zeros((2, 8, 8, 3), np.float32)
    tilt[:, :4], tilt[:, 4:] = 0.2, -0.2  # zero mean: the level is unchanged
    assert float(losses.photo_colour_loss(photo + tilt, photo, pool=4, level=False)) == pytest.approx(
        float(losses.photo_colour_loss(photo + tilt, photo, pool=4)), rel=1e-4)


def test_sliced_wasserstein_is_the_shift_along_the_direction_and_ignores_order():
    rng = np.random.default_rng(0)
    b = tf.constant(rng.uniform(-1, 1, (100, 3)), tf.float32)
    along_x = tf.constant([[1.0], [0.0], [0.0]])
    assert float(losses.sliced_wasserstein(b + [0.25, 0.0, 0.0], b, along_x)) == pytest.approx(0.25, rel=1e-5)
    shuffled = tf.gather(b, rng.permutation(100))
    assert float(losses.sliced_wasserstein(shuffled, b, losses.random_directions(16, seed=[1, 2]))) == pytest.approx(0, abs=1e-6)


def test_colour_distribution_loss_does_not_reward_collapsing_onto_the_commonest_colour():
    # The anime batch: 3/4 grey, 1/4 red. The one-sided nearest-colour term scores an all-grey
    # output 0 (every pixel has a near anime colour): the collapse seen in training. The
    # distribution term scores it worse than an output with the anime's proportions.
    grey, red = [0.0, 0.0, 0.0], [0.8, -0.6, -0.6]
    anime = tf.constant([[[grey] * 12 + [red] * 4]], tf.float32)
    collapsed = tf.constant([[[grey] * 16]], tf.float32)
    matched = tf.constant([[[red] * 4 + [grey] * 12]], tf.float32)
    seed = tf.constant([3, 4])
    assert float(losses.palette_loss(collapsed, anime, seed=seed)) < 0.01
    assert float(losses.colour_distribution_loss(matched, anime, seed=seed)) == pytest.approx(0, abs=1e-6)
    assert float(losses.colour_distribution_loss(collapsed, anime, seed=seed)) > 0.1
    # Its gradient pulls the collapsed output's pixels toward red, not further into grey.
    with tf.GradientTape() as tape:
        tape.watch(collapsed)
        loss = losses.colour_distribution_loss(collapsed, anime, seed=seed)
    step = -tape.gradient(loss, collapsed)[0, 0]
    assert float(tf.reduce_sum(tf.reduce_sum(step, 0) * (tf.constant(red) - grey))) > 0


def _two_regions(line_level=None, noise=0.0, seed=0):
    """A 32x32 RGB image in [-1, 1]: left half at level 60, right half at 200 (0..255), with
    a one-pixel vertical line of `line_level` on the boundary and Gaussian grain of `noise`
    levels; batch of one."""
    image = np.full((32, 32), 200.0, np.float32)
    image[:, :16] = 60.0
    if line_level is not None:
        image[:, 16] = line_level
    image += np.random.default_rng(seed).normal(0, noise, image.shape)
    return tf.constant(np.repeat(image[None, ..., None], 3, -1) / 127.5 - 1.0)


def test_line_profile_puts_a_drawn_outline_in_the_edge_bins_and_grain_in_the_flat_ones():
    """The boundary's contrast (140 levels over the 5x5 binomial's width, about 35 levels a
    pixel after the /8 Sobel) lands in the top bin: a 1 px line 160 levels under the bright
    side is ink there (mean over the top bin's pixels above 8 levels), none on the flat
    areas; grain of 8 levels is ink on the flat areas (mean above 3); each channel has its
    own ink, so a line dark in red and green only is one of that colour."""
    ink, share = losses.line_profile(_two_regions(line_level=40.0))
    ink, share = ink.numpy(), share.numpy()
    assert ink.shape == (len(losses.LINE_CONTRAST_BINS) + 1, 3)
    assert share[-1] > 0 and ink[-1].min() > 8.0
    np.testing.assert_allclose(ink[0], 0.0, atol=1e-4)
    grain, _ = losses.line_profile(_two_regions(noise=8.0))
    assert grain.numpy()[0].min() > 3.0
    blue = _two_regions(line_level=40.0).numpy()
    blue[:, :, 16, 2] = 200.0 / 127.5 - 1.0  # the line's blue channel as bright as the right side
    blue_ink = losses.line_profile(tf.constant(blue))[0].numpy()[-1]
    assert blue_ink[0] > 8.0 and blue_ink[1] > 8.0 and blue_ink[2] < 0.5 * blue_ink[0]  # a yellow line


def test_line_loss_tells_outlined_pictures_from_grainy_ones_and_asks_for_the_line():
    """Against an outlined anime batch, an outlined image scores near 0 and the same image
    without the line but with grain scores at least 5x more; the loss's gradient on the
    plain image darkens the boundary (a pixel beside it) and leaves the flat areas five
    pixels away alone (gradient under a tenth of the boundary's)."""
    anime = _two_regions(line_level=40.0)
    outlined = float(losses.line_loss(_two_regions(line_level=40.0, noise=1.0, seed=1), anime))
    grainy = float(losses.line_loss(_two_regions(noise=8.0, seed=1), anime))
    assert grainy > 5 * max(outlined, 1e-3)
    plain = tf.Variable(_two_regions())
    with tf.GradientTape() as tape:
        loss = losses.line_loss(plain, anime)
    gradient = tape.gradient(loss, plain).numpy()[0, 8:24].sum(-1).mean(0)  # per column, rows away from the border
    boundary = gradient[15:17].max()
    assert boundary > 0  # descending the gradient darkens the boundary
    assert np.abs(gradient[[9, 10, 22, 23]]).max() < 0.1 * boundary


def test_network_share_colour_loss_lets_dark_grey_through_counts_colour_and_light_and_frees_edges():
    # Per pixel (3 channels): dark grey (-0.6 each) costs 0; dark with a colour (-0.3, -0.6,
    # -0.9; grey -0.6) costs the colour (0.09 + 0 + 0.09); bright grey (0.5 each) all of
    # itself (3 * 0.25); 0 nothing. The mean over 4 pixels x 3 channels: (0.18 + 0.75) / 12.
    share = tf.constant([[[[-0.6, -0.6, -0.6], [-0.3, -0.6, -0.9]], [[0.5, 0.5, 0.5], [0.0, 0.0, 0.0]]]])
    assert float(losses.network_share_colour_loss(share)) == pytest.approx((0.18 + 0.75) / 12)
    assert float(losses.network_share_loss(share)) == pytest.approx((1.08 + 1.26 + 0.75) / 12)
    assert float(losses.network_share_colour_loss(tf.cast(share, tf.bfloat16))) == pytest.approx(0.0775, rel=1e-2)
    # Freed near edges: the bright grey pixel costs nothing, the mean stays over all 12 values.
    free = tf.constant([[[[0.0], [0.0]], [[1.0], [0.0]]]])
    assert float(losses.network_share_colour_loss(share, free)) == pytest.approx(0.18 / 12)
