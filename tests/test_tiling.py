"""Tiled inference equals whole-image inference, for every generator class and precision."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from cartoongan import Cartoonizer, tiling
from cartoongan.families.animegan_v2.generator import AnimeGanV2Generator
from cartoongan.families.cartoongan.generator import CartoonGanGenerator
from cartoongan.families.light.generator import LightGenerator
from cartoongan.families.whitebox.generator import WhiteboxGenerator
from cartoongan.presets import Preprocessing, load_preset
from cartoongan.tiling import NotTileableError, TiledGenerator
from tests.conftest import psnr

PRETRAINED = os.path.join(os.path.dirname(os.path.dirname(__file__)), "pretrained")
GENERATORS = {
    "cartoongan": lambda dtype: CartoonGanGenerator(filters=4, num_residual_blocks=2, dtype=dtype),
    "light": lambda dtype: LightGenerator(filters=8, num_residual_blocks=2, dtype=dtype),
    # guided filter (a 2-pixel halo, windows clipped at the true border), TF1 resizes, skips
    "whitebox": lambda dtype: WhiteboxGenerator(filters=4, num_residual_blocks=1, dtype=dtype),
    # layer norms over H, W and C (one streamed moment per image), bottom/right reflection pads
    "animegan_v2": lambda dtype: AnimeGanV2Generator(filters=4, num_residual_blocks=2, dtype=dtype),
}


def _randomized(make, dtype):
    """A generator with random weights everywhere, norm scales and shifts included, so that
    every statistic matters."""
    keras.utils.set_random_seed(0)
    generator = make(dtype)
    rng = np.random.default_rng(0)
    for weight in generator.weights:
        # Without norms (White-box) a kernel's outputs must not grow layer after layer.
        spread = 1.0 / np.sqrt(np.prod(weight.shape[:-1])) if (
            isinstance(generator, WhiteboxGenerator) and len(weight.shape) == 4) else 0.5
        values = rng.normal(0, spread, weight.shape) + (1.0 if weight.path.endswith("scale") else 0.0)
        weight.assign(values.astype("float32"))
    return generator


def _run_tiled(generator, x, **options):
    height, width = x.shape[1:3]
    out = {}

    def read_input(region):
        (r0, r1), (c0, c1) = region
        return tf.constant(x[:, r0:r1, c0:c1])

    def write_output(region, y):
        out[region] = y.numpy()

    size = TiledGenerator(generator, **options)(read_input, height, width, write_output)
    result = np.full((1, *size, 3), np.nan, np.float32)
    for ((r0, r1), (c0, c1)), y in out.items():
        assert np.isnan(result[:, r0:r1, c0:c1]).all(), "tiles overlap"
        result[:, r0:r1, c0:c1] = y
    assert not np.isnan(result).any(), "tiles leave holes"
    return result


# Recomputing every map of the deeper TFLite-born families costs a minute on two cores.
_SLOW = {("animegan_v2", 0), ("whitebox", 0)}


@pytest.mark.parametrize("name, store", [
    pytest.param(name, store, marks=[pytest.mark.slow] if (name, store) in _SLOW else [])
    for name in sorted(GENERATORS) for store in (0, 32, 10_000)])
def test_raw_generator_tiled_equals_whole_float32(name, store):
    """96x132 in 32-pixel tiles: recomputing every map (store 0), the default, or storing
    every norm input (10 000 values per pixel) all give the whole-image result."""
    generator = _randomized(GENERATORS[name], None)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 96, 132, 3)).astype(np.float32)
    whole = generator(x).numpy()
    tiled = _run_tiled(generator, x, tile_size=32, store_values_per_pixel=store)
    assert tiled.shape == whole.shape
    np.testing.assert_allclose(tiled, whole, atol=2e-4)


@pytest.mark.parametrize("ink_path", [1, 2])
def test_a_fine_tunes_photo_path_tiles_like_the_whole_image(ink_path):
    """The photo path adds the photo after the first norm and, its 5x5 median blurred, before
    the tanh, and the ink path its thinned edges (halos of 2 and 4 pixels, reflected at the
    true border; soft lines (2) blurred once more): raw float32 maps and a uint8 photo of an
    odd size tile like the whole image."""
    generator = _randomized(lambda dtype: CartoonGanGenerator(filters=4, num_residual_blocks=1, photo_path=1,
                                                              ink_path=ink_path, photo_path_median=5), None)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 96, 132, 3)).astype(np.float32)
    np.testing.assert_allclose(_run_tiled(generator, x, tile_size=32), generator(x).numpy(), atol=2e-4)
    image = np.random.default_rng(3).integers(0, 256, (77, 131, 3), dtype=np.uint8)
    whole = Cartoonizer(generator, Preprocessing("BGR"), tile_size=0)(image)
    tiled = Cartoonizer(generator, Preprocessing("BGR"), tile_size=32)(image)
    assert tiled.shape == image.shape
    assert np.abs(whole.astype(int) - tiled).max() <= 1


@pytest.mark.parametrize("name", [pytest.param(name, marks=[pytest.mark.slow] if name == "whitebox" else [])
                                  for name in sorted(GENERATORS)])
def test_uint8_tiled_bfloat16_is_as_faithful_as_whole_bfloat16(name):
    """bfloat16 convolutions round differently on tiles than on the whole image, and a
    network with random weights amplifies every rounding flip (tiled and whole bfloat16 are
    both only ~37-41 dB from float32 here). Tiling must cost nothing beyond that noise: the
    tiled result is as close to float32 as the whole-image one. (Trained weights: >= 55 dB
    between tiled and whole, test_shipped_hayao_lite_tiles_without_seams.)"""
    preprocessing = Preprocessing("BGR" if name == "cartoongan" else "RGB")
    image = np.random.default_rng(2).integers(0, 256, (96, 130, 3), dtype=np.uint8)
    low = _randomized(GENERATORS[name], "mixed_bfloat16")
    whole = Cartoonizer(low, preprocessing, "bfloat16", tile_size=0)(image)
    tiled = Cartoonizer(low, preprocessing, "bfloat16", tile_size=32)(image)
    reference = Cartoonizer(_randomized(GENERATORS[name], None), preprocessing, tile_size=0)(image)
    assert psnr(tiled, reference) >= psnr(whole, reference) - 3


@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.parametrize("size", [(96, 130), (77, 131), (33, 200), (129, 17)])
def test_uint8_tiled_equals_whole_float32_odd_sizes(name, size):
    generator = _randomized(GENERATORS[name], None)
    preprocessing = Preprocessing("BGR" if name == "cartoongan" else "RGB")
    image = np.random.default_rng(3).integers(0, 256, (*size, 3), dtype=np.uint8)
    whole = Cartoonizer(generator, preprocessing, tile_size=0)(image)
    cartoonizer = Cartoonizer(generator, preprocessing, tile_size=32)
    assert cartoonizer.choose_tile_size(*size) == 32
    tiled = cartoonizer(image)
    assert tiled.shape == image.shape
    assert np.abs(whole.astype(int) - tiled).max() <= 1


def _photo_like(height, width):
    """Smooth colour gradients with sharp shapes: statistics far from zero mean, edges
    crossing tile borders."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    image = np.stack([0.5 + 0.4 * np.sin(6 * x + 2 * y), 0.4 + 0.3 * np.cos(5 * y), 0.3 + 0.2 * x], -1)
    image[(x - 0.4) ** 2 + (y - 0.3) ** 2 < 0.04] = (0.9, 0.8, 0.2)
    image[(np.abs(x - 0.7) < 0.08) | (np.abs(y - 0.55) < 0.01)] = (0.1, 0.2, 0.6)
    noise = np.random.default_rng(6).normal(0, 0.03, image.shape)
    return np.clip((image + noise) * 255, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("precision,floor", [("float32", 80), ("bfloat16", 55)])
def test_shipped_hayao_lite_tiles_without_seams(precision, floor):
    """The distilled preset (a small CartoonGanGenerator) on a photo-like image in 64-pixel
    tiles, maps stored at 1/2 and 1/4 resolution, the rest recomputed. Measured at three sizes
    (150x230, 173x251, 211x149): float32 89.8-90.3 dB or identical (at most 8 values one
    level apart), bfloat16 58.8-59.0 dB (tiles round differently: about 9% of the values
    one level apart); never more than one level anywhere. On a CPU that emulates bfloat16
    (AVX2, no AVX512-BF16): 57.3-57.5 dB, about 12% one level apart and at most 7.4e-5 of the
    values two levels apart, never more; the bound is 1e-3 of them."""
    from cartoongan import precision as precision_lib

    generator, preprocessing, _ = load_preset(os.path.join(PRETRAINED, "hayao_lite"),
                                              dtype=precision_lib.dtype_policy(precision))
    image = _photo_like(150, 230)
    whole = Cartoonizer(generator, preprocessing, precision, tile_size=0)(image)
    tiled = Cartoonizer(generator, preprocessing, precision, tile_size=64)(image)
    apart = np.abs(whole.astype(int) - tiled)
    native = precision == "float32" or precision_lib.resolve("auto") == "bfloat16"
    assert apart.max() <= (1 if native else 2)
    assert np.mean(apart > 1) <= 1e-3, np.mean(apart > 1)
    assert psnr(whole, tiled) >= floor, psnr(whole, tiled)


def test_auto_runs_whole_within_the_budget_and_tiles_beyond():
    generator = _randomized(GENERATORS["cartoongan"], None)
    preprocessing = Preprocessing("BGR")
    roomy = Cartoonizer(generator, preprocessing, tile_size="auto", memory_budget=1 << 40)
    tight = Cartoonizer(generator, preprocessing, tile_size="auto", memory_budget=1 << 20)
    assert roomy.choose_tile_size(200, 300) == 0
    assert tight.choose_tile_size(200, 300) > 0
    assert tight.whole_image_bytes(200, 300) > 1 << 20
    assert Cartoonizer(generator, preprocessing, tile_size=0, memory_budget=1).choose_tile_size(200, 300) == 0
    # An image that fits in one tile runs whole.
    assert Cartoonizer(generator, preprocessing, tile_size=512).choose_tile_size(200, 300) == 0
    image = np.random.default_rng(4).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    assert np.abs(roomy(image).astype(int) - tight(image)).max() <= 1
    batch = tight.cartoonize_batch([image, image[:50, :60]])
    assert np.abs(batch[0].astype(int) - roomy(image)).max() <= 1


def test_whole_image_estimate_grows_with_the_image():
    generator = _randomized(GENERATORS["cartoongan"], None)
    cartoonizer = Cartoonizer(generator, Preprocessing("BGR"))
    small, large = cartoonizer.whole_image_bytes(100, 100), cartoonizer.whole_image_bytes(1000, 1000)
    assert 90 * small < large < 110 * small


@pytest.mark.parametrize("tile_size", [-1, 3, 1.5, "big", True])
def test_bad_tile_sizes_are_refused(tile_size):
    generator = _randomized(GENERATORS["cartoongan"], None)
    with pytest.raises(ValueError, match="tile_size"):
        Cartoonizer(generator, Preprocessing("BGR"), tile_size=tile_size)


def _untileable_generator():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.UpSampling2D(2)(x)  # not known to the tiler
    x = keras.layers.AveragePooling2D(2)(x)
    return keras.Model(inputs, keras.layers.Conv2D(3, 1, activation="tanh")(x))


def test_untileable_generator_falls_back_to_whole_image_with_a_warning():
    generator = _untileable_generator()
    with pytest.raises(NotTileableError, match="UpSampling2D"):
        TiledGenerator(generator)
    cartoonizer = Cartoonizer(generator, Preprocessing("RGB"), memory_budget=1)
    image = np.zeros((40, 40, 3), np.uint8)
    with pytest.warns(UserWarning, match="cannot be tiled exactly"):
        assert cartoonizer(image).shape == image.shape
    with pytest.raises(ValueError, match="cannot be tiled"):
        Cartoonizer(generator, Preprocessing("RGB"), tile_size=16)(image)


def test_stored_maps_are_removed(tmp_path):
    generator = _randomized(GENERATORS["cartoongan"], None)
    x = np.random.default_rng(5).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
    _run_tiled(generator, x, tile_size=32, temp_dir=str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_tile_size_below_8_is_refused():
    with pytest.raises(ValueError, match="tile_size"):
        TiledGenerator(_randomized(GENERATORS["cartoongan"], None), tile_size=4)


def test_one_pass_per_norm_and_each_traced_once():
    """The full generator runs in one pass per instance norm plus the output pass (residual
    sums are written by the pass after them), and every pass is traced once for all its
    tiles, edge tiles and other image sizes included."""
    generator = _randomized(GENERATORS["cartoongan"], None)
    tiler = TiledGenerator(generator, tile_size=32)
    norms = sum(isinstance(node.op, tiling._Norm) for node in tiler.nodes)
    _, passes = tiler._schedule(tiler.map_sizes(96, 132))
    assert len(passes) == norms + 1
    assert sum(len(extras) for _, _, extras in passes) == 1  # res1_add; res2_add feeds the upsampling pass
    rng = np.random.default_rng(7)
    for size in [(96, 132), (72, 100)]:
        x = rng.uniform(-1, 1, (1, *size, 3)).astype(np.float32)
        np.testing.assert_allclose(_run_tiled(generator, x, tile_size=32), generator(x).numpy(), atol=2e-4)
    # _run_tiled builds its own tiler: run this one twice and count its traces.
    for size in [(96, 132), (72, 100)]:
        x = rng.uniform(-1, 1, (1, *size, 3)).astype(np.float32)
        tiler(lambda region, x=x: tf.constant(x[:, slice(*region[0]), slice(*region[1])]), *size,
              lambda region, y: None)
    assert len(tiler._programs) == len(passes)
    assert all(program.function.experimental_get_tracing_count() == 1 for program in tiler._programs.values())
