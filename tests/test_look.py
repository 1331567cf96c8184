"""The look controls (cartoongan.look): strength, colour keeping, guided upsampling, and the
Cartoonizer applying them. Colours are checked against CIELAB and YCbCr computed here from
their standards' formulas (not OpenCV's conversion, which the library uses)."""

import tracemalloc

import numpy as np
import pytest
from PIL import Image

from cartoongan import Cartoonizer, look
from cartoongan.errors import ParameterError
from cartoongan.images import resize
from cartoongan.inference import uint8_cartoonize_fn
from cartoongan.options import LookOptions
from cartoongan.presets import load_preset
from tests.conftest import psnr, required_module

# --- an independent CIELAB (IEC 61966-2-1 sRGB, D65 white, CIE 1976 L*a*b*) -----------------

_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
_WHITE = _RGB_TO_XYZ.sum(axis=1)


def reference_lab(rgb):
    c = np.asarray(rgb, np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def smooth_photo(height, width, seed=0):
    """A photo-like picture: smooth colour fields with a few sharp edges."""
    rng = np.random.default_rng(seed)
    small = rng.integers(20, 236, (4, 5, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC), np.int32)
    image[height // 3:, width // 2:] = image[height // 3:, width // 2:] // 2  # an edge
    return image.astype(np.uint8)


@pytest.fixture(scope="module")
def tiny(tiny_preset):
    return Cartoonizer.from_pretrained(str(tiny_preset), precision="float32")


# --- the options ------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [("strength", -0.1), ("strength", 1.5), ("strength", "0.5"),
                                          ("strength", True), ("strength", float("nan")), ("style_size", 8),
                                          ("style_size", -1), ("style_size", 512.0), ("keep_colors", "yes")])
def test_bad_values_are_refused_naming_the_parameter(field, value):
    with pytest.raises(ParameterError) as caught:
        LookOptions(**{field: value})
    assert caught.value.field == field
    assert caught.value.explain({field: "--flag"}).startswith("--flag")


def test_bad_values_are_refused_before_the_model_loads():
    with pytest.raises(ParameterError, match="strength"):
        Cartoonizer.from_pretrained("/nonexistent/preset", strength=2)


def test_style_input_size_shrinks_the_long_side_only_when_larger():
    assert LookOptions(style_size=1024).style_input_size(3000, 4000) == (768, 1024)
    assert LookOptions(style_size=1024).style_input_size(4000, 30) == (1024, 8)
    assert LookOptions(style_size=1024).style_input_size(700, 1024) == (700, 1024)
    assert LookOptions().style_input_size(3000, 4000) == (3000, 4000)


# --- colour -----------------------------------------------------------------------------------

def test_lab_matches_the_cie_formulas():
    rgb = np.random.default_rng(0).integers(0, 256, (500, 3), dtype=np.uint8)
    # OpenCV interpolates the curves from tables: 0.47 at worst over the sRGB cube (a just
    # noticeable difference is about 1)
    assert np.abs(look.rgb_to_lab(rgb[None]) - reference_lab(rgb[None])).max() < 0.5
    assert np.abs(look.lab_to_rgb(reference_lab(rgb[None])).astype(int) - rgb[None]).max() <= 1


def test_ciede2000_reproduces_sharma_test_data():
    """Pairs 1, 7, 17 and 25 of Sharma, Wu & Dalal (2005), table 1."""
    pairs = [((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
             ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
             ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
             ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644)]
    first, second, expected = (np.array(column) for column in zip(*pairs))
    np.testing.assert_allclose(look.ciede2000(first, second), expected, atol=1e-4)
    np.testing.assert_allclose(look.ciede2000(second, first), expected, atol=1e-4)


# --- strength -----------------------------------------------------------------------------------

def test_strength_0_is_the_photo_and_1_the_style_exactly(tiny_preset):
    generator, preprocessing, _ = load_preset(str(tiny_preset))
    photo = smooth_photo(40, 56)
    today = uint8_cartoonize_fn(generator, preprocessing)(photo[None]).numpy()[0]
    np.testing.assert_array_equal(Cartoonizer(generator, preprocessing, strength=0.0)(photo), photo)
    np.testing.assert_array_equal(Cartoonizer(generator, preprocessing, strength=1.0)(photo), today)
    half = Cartoonizer(generator, preprocessing, strength=0.5)(photo)
    assert 0 < np.abs(half.astype(int) - photo).mean() < np.abs(today.astype(int) - photo).mean()


def test_blend_mixes_srgb_values_or_cielab():
    red, green = np.array([[[230, 20, 20]]], np.uint8), np.array([[[20, 200, 40]]], np.uint8)
    # 230 + 0.5 (20 - 230) = 125; 20 + 0.5 (200 - 20) = 110; 20 + 0.5 (40 - 20) = 30
    np.testing.assert_array_equal(look.blend(red, green, 0.5), [[[125, 110, 30]]])
    # 230 + 0.2 (-210) = 188; 20 + 0.2 (180) = 56; 20 + 0.2 (20) = 24
    np.testing.assert_array_equal(look.blend(red, green, 0.2), [[[188, 56, 24]]])
    halfway = (reference_lab(red) + reference_lab(green)) / 2
    assert np.abs(reference_lab(look.blend(red, green, 0.5, space="lab")) - halfway).max() < 1.0


# --- keep colours ---------------------------------------------------------------------------------

_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def reference_ycbcr(rgb):
    """JFIF's YCbCr, without the +128 offset of Cb and Cr."""
    return np.asarray(rgb, np.float64) @ _YCBCR.T


def test_keep_colors_has_the_result_luma_and_the_photo_chroma():
    photo = smooth_photo(64, 80, seed=1)
    # darker, with a colour cast, and the brightness of another place (mirrored)
    result = (photo.astype(np.float32) * [0.6, 0.7, 0.9] + [10, 0, 30]).clip(0, 255).astype(np.uint8)[:, ::-1]
    kept = look.keep_colors(photo, result)
    ycc_kept, ycc_photo, ycc_result = reference_ycbcr(kept), reference_ycbcr(photo), reference_ycbcr(result)
    # pixels whose target colour lies inside the sRGB gamut (the rest is clipped there)
    target = np.concatenate([ycc_result[..., :1], ycc_photo[..., 1:]], -1)
    rgb = target @ np.linalg.inv(_YCBCR).T
    inside = ((rgb > -0.5) & (rgb < 255.5)).all(-1)
    assert inside.mean() > 0.6  # random colours: many saturated ones
    # within rounding: R, G and B each off by up to 0.5 move Y, Cb and Cr by up to 0.5
    assert np.abs(ycc_kept - target)[inside].max() <= 0.5 + 1e-6
    assert np.abs(ycc_kept - target)[~inside].max() > 1  # clipped: not equal there


# --- style scale ------------------------------------------------------------------------------------

def test_guided_upsampling_reproduces_a_local_colour_transform_at_full_size():
    """A result that is an affine colour transform of the photo comes out as that transform of
    the full-resolution photo: the photo's own edges, at full sharpness."""
    photo = smooth_photo(240, 300, seed=2)
    transform = lambda rgb: (rgb.astype(np.float64) @ np.array([[0.7, 0.1, 0.0], [0.1, 0.6, 0.1], [0.0, 0.2, 0.5]])
                             + [20, 10, 40]).round().astype(np.uint8)
    small = resize(photo, (100, 80))
    upsampled = look.guided_upsample(photo, small, transform(small))
    assert psnr(upsampled, transform(photo)) > 50  # 55 dB; the enlarged small result: 41 dB
    plain = resize(transform(small), (300, 240))  # the same small result, upscaled as an image
    assert psnr(plain, transform(photo)) < psnr(upsampled, transform(photo)) - 8


def test_guided_upsampling_is_stable_where_the_photo_is_flat():
    """A flat region makes the guide's covariance eps times the identity: its inverse must
    stay exact however small eps is."""
    photo = np.full((64, 64, 3), 100, np.uint8)
    photo[:, 32:] = [30, 160, 220]
    small = resize(photo, (16, 16))
    result = (255 - small).astype(np.uint8)
    for eps in (1e-4, 1e-6, 1e-8):
        upsampled = look.guided_upsample(photo, small, result, radius=1, eps=eps)
        assert np.abs(upsampled[:, :24].astype(int) - (255 - 100)).max() <= 1
        assert np.abs(upsampled[:, 40:].astype(int) - [225, 95, 35]).max() <= 1


def test_guided_upsampling_keeps_the_small_result():
    """A posterised (cartoon-like, not affine) result: downscaled again, the full-size result
    is the small one."""
    photo = smooth_photo(300, 400, seed=3)
    photo = (photo.astype(np.int32) + np.random.default_rng(3).integers(-12, 13, photo.shape)).clip(0, 255)
    photo = photo.astype(np.uint8)
    small = resize(photo, (128, 96))
    cartoon = (small // 48 * 48 + 24).astype(np.uint8)
    upsampled = look.guided_upsample(photo, small, cartoon)
    assert psnr(resize(upsampled, (128, 96)), cartoon) >= 30


def test_guided_upsampling_streams_in_strips_with_one_result():
    """Strips of 7 rows give the whole image's result: identical on an AVX-512 CPU; on an
    AVX2-only one, 1 of the 249 750 values one level apart (float32 sums rounded in another
    order). Bound: one level, on at most 1e-4 of the values."""
    photo = smooth_photo(333, 250, seed=4)
    small = resize(photo, (60, 80))
    cartoon = (small // 64 * 64).astype(np.uint8)
    whole = look.guided_upsample(photo, small, cartoon, strip_rows=10_000)
    apart = np.abs(look.guided_upsample(photo, small, cartoon, strip_rows=7).astype(int) - whole)
    assert apart.max() <= 1 and np.mean(apart > 0) <= 1e-4, (apart.max(), np.mean(apart > 0))


def test_guided_upsampling_memory_is_bounded_by_the_strip():
    photo = np.zeros((1500, 2000, 3), np.uint8)
    photo[::7] = 200
    small = resize(photo, (200, 150))
    tracemalloc.start()
    look.guided_upsample(photo, small, small, strip_rows=32)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # the output (9 MB) and a few 32-row strips; the whole coefficient map would be 144 MB
    assert peak < 30e6, peak


def test_style_size_runs_the_network_on_the_shrunk_photo(tiny):
    photo = smooth_photo(96, 128, seed=5)
    scaled = tiny.with_look(style_size=64)
    small = resize(photo, (64, 48))
    expected = look.guided_upsample(photo, small, tiny(small))
    np.testing.assert_array_equal(scaled(photo), expected)
    np.testing.assert_array_equal(tiny.with_look(style_size=128)(photo), tiny(photo))  # no larger than N: as today
    assert tiny.look == LookOptions() and scaled.generator is tiny.generator


def test_batches_apply_the_look_as_single_calls(tiny):
    styled = tiny.with_look(style_size=32, strength=0.6, keep_colors=True)
    images = [smooth_photo(40, 48, seed=6), smooth_photo(20, 24, seed=7), smooth_photo(40, 48, seed=8)]
    for single, batched in zip([styled(image) for image in images], styled.cartoonize_batch(images)):
        assert single.shape == batched.shape
        assert np.abs(single.astype(int) - batched).max() <= 1


# --- the command line ---------------------------------------------------------------------------------

def test_cartoonize_flags_reach_the_result(tmp_path, tiny_preset):
    from cartoongan.cli.cartoonize import main

    photo = smooth_photo(60, 90, seed=9)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    run = lambda *flags: main(["--input", str(tmp_path / "photo.png"), "--output", str(tmp_path / "out"), "--style",
                               str(tiny_preset), "--overwrite", *flags])
    assert run("--strength", "0") == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "tiny" / "photo.png")), photo)
    assert run("--style-size", "32", "--keep-colors", "--strength", "0.5") == 0
    expected = Cartoonizer.from_pretrained(str(tiny_preset), style_size=32, keep_colors=True, strength=0.5)(photo)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "tiny" / "photo.png")), expected)


@pytest.mark.parametrize("flags, message", [(["--strength", "1.5"], "--strength must be a number from 0 to 1"),
                                            (["--style-size", "8"], "--style-size must be 0 (off) or at least 16")])
def test_cartoonize_refuses_bad_look_flags_before_any_work(tmp_path, flags, message, capsys):
    from cartoongan.cli.cartoonize import main

    Image.fromarray(smooth_photo(20, 20)).save(tmp_path / "photo.png")
    with pytest.raises(SystemExit) as exit_:
        main(["--input", str(tmp_path / "photo.png"), "--output", str(tmp_path / "out"), *flags])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # a Beam pipeline: about a minute on two busy cores
def test_beam_applies_the_look_and_refuses_bad_values_before_any_work(tmp_path, tiny_preset, capsys):
    from cartoongan.cli.cartoonize_beam import main

    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    photo = smooth_photo(40, 52, seed=10)
    Image.fromarray(photo).save(photos / "photo.png")
    with pytest.raises(SystemExit):
        main(["--input", str(photos), "--output", str(out), "--preset", str(tiny_preset), "--strength", "-1"])
    assert "--strength must be a number from 0 to 1" in capsys.readouterr().err and not out.exists()
    assert main(["--input", str(photos), "--output", str(out), "--preset", str(tiny_preset), "--style-size", "16",
                 "--keep-colors"]) == 0
    expected = Cartoonizer.from_pretrained(str(tiny_preset), style_size=16, keep_colors=True)(photo)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "tiny" / "photo.png")), expected)


# --- the web server ------------------------------------------------------------------------------------

def test_the_http_api_takes_the_look(tiny, tmp_path):
    import io

    from starlette.testclient import TestClient

    from cartoongan.serve.app import create_app

    photo = smooth_photo(48, 64, seed=14)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="PNG")
    decode = lambda answer: np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGB"))
    with TestClient(create_app({"tiny": tiny, "plain": lambda image: image})) as client:
        post = lambda query: client.post(f"/api/cartoonize?{query}", content=buffer.getvalue())
        np.testing.assert_array_equal(decode(post("style=tiny&strength=0")), photo)
        answer = post("style=tiny&style_size=32&keep_colors=true&strength=0.5")
        expected = tiny.with_look(style_size=32, keep_colors=True, strength=0.5)(photo)
        np.testing.assert_array_equal(decode(answer), expected)
        np.testing.assert_array_equal(decode(post("style=tiny")), tiny(photo))  # the server's cartoonizer unchanged
        assert "strength must be a number from 0 to 1" in post("style=tiny&strength=7").json()["error"]
        assert "keep_colors cannot be 'maybe'" in post("style=tiny&keep_colors=maybe").json()["error"]
        assert "take no look options" in post("style=plain&strength=0.5").json()["error"]


@pytest.mark.slow  # a real headless Chromium
def test_the_page_applies_strength_and_colours_to_the_last_result(tiny, tmp_path):
    import base64
    import io
    import os

    from cartoongan.serve.app import create_app
    from tests.serve.browser import cartoonize_in_page, find_browser, start_chromium
    from tests.serve.conftest import live_server

    paths, reason = find_browser()
    if paths is None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, but CI is set: the browser tests must run there")
        pytest.skip(reason)
    photo = smooth_photo(40, 56, seed=15)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    browser = start_chromium(*paths, tmp_path / "profile")
    try:
        with live_server(create_app({"tiny": tiny})) as url:
            assert cartoonize_in_page(browser, url, tmp_path / "photo.png", "tiny") is not None

            def shown(strength, keep):
                data = browser.execute_async_script("""
                    const [strength, keep, done] = arguments;
                    const result = document.getElementById('result');
                    const before = result.src;
                    document.getElementById('keep-colors').checked = keep;
                    const slider = document.getElementById('strength');
                    slider.value = strength;
                    slider.dispatchEvent(new Event('input'));
                    const wait = () => (result.src !== before && result.complete ? done(result.src) : setTimeout(wait, 20));
                    setTimeout(wait, 20);""", strength, keep)
                encoded = data.split(",", 1)[1]
                return np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))).convert("RGB"))

            np.testing.assert_array_equal(shown(0, False), photo)
            styled = tiny(photo)
            expected = look.keep_colors(photo, styled).astype(int)
            assert np.abs(shown(100, True).astype(int) - expected).max() <= 1  # the page rounds ties up
            half = look.blend(photo, styled, 0.5).astype(int)
            assert np.abs(shown(50, False).astype(int) - half).max() <= 1
    finally:
        browser.quit()


# --- export ----------------------------------------------------------------------------------------------

def test_exported_formats_bake_in_strength_and_colours(tiny_preset, tmp_path):
    """SavedModel and TFLite (run by LiteRT) against the Cartoonizer's numpy look."""
    import tensorflow as tf

    from cartoongan.export import export_saved_model, tflite_bytes

    litert = required_module("ai_edge_litert.interpreter")
    generator, preprocessing, _ = load_preset(str(tiny_preset))
    cartoonizer = Cartoonizer(generator, preprocessing)
    photos = np.stack([smooth_photo(30, 44, seed=16), smooth_photo(30, 44, seed=17)])
    for values in ({"strength": 0.4}, {"keep_colors": True}, {"strength": 0.7, "keep_colors": True}):
        lookx = LookOptions(**values)
        expected = np.stack([cartoonizer.with_look(**values)(photo) for photo in photos]).astype(int)
        export_saved_model(generator, preprocessing, tmp_path / "saved", lookx)
        serve = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
        saved = serve(images=tf.constant(photos))["cartoons"].numpy()
        interpreter = litert.Interpreter(model_content=tflite_bytes(generator, preprocessing, look=lookx))
        lite = interpreter.get_signature_runner()(images=photos)["cartoons"]
        for output in (saved, lite):
            assert np.abs(output.astype(int) - expected).max() <= 1  # float sums in another order
            assert (output == expected).mean() > 0.99
    with pytest.raises(ValueError, match="style_size cannot be part of a graph"):
        export_saved_model(generator, preprocessing, tmp_path / "scaled", LookOptions(style_size=64))
    assert not (tmp_path / "scaled").exists()
