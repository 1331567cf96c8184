"""One battery for every network: config round trip, weights and whole-model save/load,
output sizes, the parameter count at full size, and the low-precision policy (convolutions
in bfloat16, norms, residual sums and outputs in float32).

Each case is a small instance of one class (few filters: fast), plus the distilled size of
the shipped `hayao_lite` preset. A new network joins the battery with one `Case` below."""

from dataclasses import dataclass

import keras
import numpy as np
import pytest

from cartoongan.families import build_generator, generator_class
from cartoongan.families.animegan_v2.generator import AnimeGanV2Generator
from cartoongan.families.cartoongan.generator import CartoonGanGenerator
from cartoongan.families.light.generator import LightGenerator
from cartoongan.families.whitebox.generator import WhiteboxGenerator
from cartoongan.models.discriminator import CartoonGanDiscriminator
from tests.references import numpy_median


@dataclass(frozen=True)
class Case:
    cls: type
    config: dict
    config_keys: set  # what get_config() holds: exactly the constructor's arguments
    low_precision_layers: tuple  # convolutions: bfloat16 under "mixed_bfloat16"
    float32_layers: tuple  # pinned to float32 whatever the policy
    generator: bool = True
    min_side: int = 5  # smallest input side it takes (reflection padding needs more than its pad)
    any_size: bool = True  # False: takes multiples of 4 only (the Cartoonizer pads to the preset's size_multiple)

    def build(self, **overrides):
        return self.cls(**self.config, **overrides)

    def rebuild(self, config):
        """From a stored config, as a preset or a checkpoint does."""
        if self.generator:
            return build_generator(self.cls.__name__, config)
        return self.cls.from_config(config)


GENERATOR_KEYS = {"name", "trainable", "filters", "num_residual_blocks"}
CASES = {
    "cartoongan": Case(CartoonGanGenerator, dict(filters=4, num_residual_blocks=1), GENERATOR_KEYS,
                       ("stem_conv",), ("stem_norm", "res1_add")),
    # the student of `tools/distill.py` at the size shipped as pretrained/hayao_lite
    "distilled": Case(CartoonGanGenerator, dict(filters=24, num_residual_blocks=6), GENERATOR_KEYS,
                      ("stem_conv",), ("stem_norm", "res6_add")),
    # fine-tuning adds the photo path (cartoongan.models.photo_path): then multiples of 4 only
    "cartoongan_photo_path": Case(CartoonGanGenerator, dict(filters=4, num_residual_blocks=1, photo_path=1),
                                  GENERATOR_KEYS | {"photo_path", "photo_path_gain"}, ("stem_conv", "stem_photo_conv", "head_photo_conv"),
                                  ("stem_norm", "stem_photo_add", "head_photo_blur", "head_photo_add"), any_size=False),
    "light": Case(LightGenerator, dict(filters=8, num_residual_blocks=1, end_kernel_size=3),
                  GENERATOR_KEYS | {"end_kernel_size"}, ("stem_conv", "res1_branch_dwconv"),
                  ("stem_norm", "res1_concat"), min_side=1),
    # The two TFLite-born families: skips (White-box) and bottom/right-padded stride-2 convs
    # (AnimeGANv2) need sides that are multiples of 4.
    "whitebox": Case(WhiteboxGenerator, dict(filters=4, num_residual_blocks=1), GENERATOR_KEYS,
                     ("stem_conv", "res1_1_conv"), ("res1_add", "up1_skip", "guided_filter"), any_size=False),
    "animegan_v2": Case(AnimeGanV2Generator, dict(filters=4, num_residual_blocks=2), GENERATOR_KEYS,
                        ("a1_conv", "c_r1_dw_conv"), ("a1_norm", "c_r2_add", "out_tanh"), min_side=8,
                        any_size=False),
    "discriminator": Case(CartoonGanDiscriminator, dict(filters=4), {"name", "trainable", "filters", "normalization"},
                          ("stem_conv",), ("down1_norm",), generator=False),
}
GENERATOR_CASES = [name for name, case in CASES.items() if case.generator]


@pytest.fixture(params=sorted(CASES))
def case(request):
    keras.utils.set_random_seed(0)
    return CASES[request.param]


def test_config_round_trip(case):
    model = case.build()
    config = model.get_config()
    assert set(config) == case.config_keys
    rebuilt = case.rebuild(config)
    assert rebuilt.get_config() == config
    assert rebuilt.count_params() == model.count_params()


def test_save_load_weights_round_trip(case, tmp_path):
    model = case.build()
    x = np.random.default_rng(0).uniform(-1, 1, (1, 16, 24, 3)).astype("float32")
    model.save_weights(tmp_path / "m.weights.h5")
    other = case.build()
    other.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(model(x), other(x))


def test_full_model_save_load_round_trip(case, tmp_path):
    model = case.build()
    x = np.random.default_rng(1).uniform(-1, 1, (1, 12, 20, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    other = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(other, case.cls)
    np.testing.assert_array_equal(model(x), other(x))


def test_bfloat16_policy_runs_only_the_convolutions_in_low_precision(case):
    model = case.build(dtype="mixed_bfloat16")
    for name in case.low_precision_layers:
        assert model.get_layer(name).compute_dtype == "bfloat16", name
    for name in case.float32_layers:
        assert model.get_layer(name).compute_dtype == "float32", name
    assert model.output.dtype == "float32"
    assert model(np.zeros((1, 16, 16, 3), "float32")).dtype == "float32"


# Output sides round up to a multiple of 4 (the two stride-2 steps); batch of two.
SIZES = [((64, 96), (64, 96)), ((75, 53), (76, 56)), ((5, 7), (8, 8)), ((1, 1), (4, 4))]


@pytest.mark.parametrize("name, size, expected", [(name, size, expected) for name in GENERATOR_CASES
                                                  for size, expected in SIZES if min(size) >= CASES[name].min_side
                                                  and (CASES[name].any_size or size == expected)])
def test_generator_output_size_rounds_up_to_multiple_of_four(name, size, expected):
    generator = CASES[name].build()
    output = generator(np.zeros((2, *size, 3), "float32"))
    assert tuple(output.shape) == (2, *expected, 3)


@pytest.mark.parametrize("name", [name for name in GENERATOR_CASES if not CASES[name].any_size])
def test_multiple_of_four_generators_keep_non_square_sizes(name):
    output = CASES[name].build()(np.zeros((1, 8, 20, 3), "float32"))
    assert tuple(output.shape) == (1, 8, 20, 3)


@pytest.mark.parametrize("size", [(64, 64), (48, 80)])
def test_discriminator_patch_logits_are_a_quarter_of_the_input_size(size):
    discriminator = CASES["discriminator"].build()
    output = discriminator(np.random.default_rng(0).uniform(-1, 1, (2, *size, 3)).astype("float32"))
    assert tuple(output.shape) == (2, size[0] // 4, size[1] // 4, 1)


@pytest.mark.parametrize("cls", [CartoonGanGenerator, LightGenerator, WhiteboxGenerator, AnimeGanV2Generator],
                         ids=lambda cls: cls.__name__)
def test_generator_classes_are_registered_for_presets(cls):
    assert generator_class(cls.__name__) is cls


# The default (full) size of each class.
_DISCRIMINATOR_CONVS = [(3, 32), (32, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 1)]
FULL_SIZE_PARAMETERS = {
    # 94 upstream tensors of the original network hold 11,129,667 parameters.
    CartoonGanGenerator: 11_129_667,
    # The published light checkpoints hold 878,433 parameters.
    LightGenerator: 878_433,
    # 3x3 convs with bias: 3->32, 32->64, 64->128, 128->128, 128->256, 256->256, 256->1,
    # plus scale and shift of the three instance norms (128, 256, 256 channels).
    CartoonGanDiscriminator: sum(9 * i * o + o for i, o in _DISCRIMINATOR_CONVS) + 2 * (128 + 256 + 256),
    # The 20 kernels and biases of the White-box TFLite file: (kernel side, in, out) with bias.
    WhiteboxGenerator: sum(k * k * i * o + o for k, i, o in [
        (7, 3, 32), (3, 32, 32), (3, 32, 64), (3, 64, 64), (3, 64, 128), *[(3, 128, 128)] * 8,
        (3, 128, 64), (3, 64, 64), (3, 64, 32), (3, 32, 32), (7, 32, 3)]),
    # AnimeGANv2: convs without bias, a per-channel gamma and beta after each but the last;
    # inverted residual blocks of 1x1 (x2) -> depthwise 3x3 with bias -> 1x1 (to 256).
    AnimeGanV2Generator: sum(k * k * i * o + 2 * o for k, i, o in [
        (7, 3, 32), (3, 32, 64), (3, 64, 64), (3, 64, 128), (3, 128, 128), (3, 128, 128), (3, 256, 128),
        (3, 128, 128), (3, 128, 128), (3, 128, 64), (3, 64, 64), (7, 64, 32)]) + 32 * 3
    + sum(i * e + 2 * e + 9 * e + e + 2 * e + e * 256 + 2 * 256 for i, e in [(128, 256), *[(256, 512)] * 3]),
}


@pytest.mark.parametrize("cls", list(FULL_SIZE_PARAMETERS), ids=lambda cls: cls.__name__)
def test_full_size_parameter_count(cls):
    assert cls().count_params() == FULL_SIZE_PARAMETERS[cls]


def test_the_distilled_case_is_the_size_of_the_shipped_hayao_lite():
    from cartoongan.presets import load_preset

    generator, _, _ = load_preset("hayao_lite")
    assert isinstance(generator, CartoonGanGenerator)
    case = CASES["distilled"]
    assert {k: generator.get_config()[k] for k in case.config} == case.config
    assert generator.count_params() == case.build().count_params()


def test_a_photo_path_without_a_recorded_gain_has_the_legacy_one_and_new_paths_the_current():
    """Presets saved before the gain was recorded (photo_path=1 alone) were trained with the
    path scaled by 10: they must load with 10, or their outputs change; with_photo_path
    records the gain new paths are built with."""
    from cartoongan.models.photo_path import with_photo_path

    legacy = CartoonGanGenerator(filters=4, num_residual_blocks=1, photo_path=1)
    assert [legacy.get_layer(f"{n}_photo_gain").scale for n in ("stem", "head")] == [10.0, 10.0]
    extended = with_photo_path(CartoonGanGenerator(filters=4, num_residual_blocks=1))
    assert extended.get_config()["photo_path_gain"] == 100
    assert [extended.get_layer(f"{n}_photo_gain").scale for n in ("stem", "head", "ink")] == [100.0] * 3


def _reference_ink(photo, thresholds=(2.0, 5.0, 10.0, 20.0)):
    """InkFeatures computed independently with OpenCV and numpy: the channel mean blurred
    twice by the 3x3 binomial kernel, Sobel / 8, non-maximum suppression along the gradient
    quantised to 0, 45, 90 and 135 degrees (of two equal neighbours the later kept; outside the
    picture counts as 0)."""
    import cv2

    grey = photo.mean(-1).astype(np.float32) * 127.5
    kernel = np.outer([1, 2, 1], [1, 2, 1]).astype(np.float32) / 16
    for _ in range(2):
        grey = cv2.filter2D(grey, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT_101) / 8
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT_101) / 8
    magnitude = np.sqrt(gx * gx + gy * gy + 1e-6)
    angle = np.degrees(np.arctan2(gy, gx)) % 180
    padded = np.pad(magnitude, 1)
    thin = np.zeros_like(magnitude)
    for y in range(magnitude.shape[0]):
        for x in range(magnitude.shape[1]):
            a = angle[y, x]
            dy, dx = (0, 1) if a < 22.5 or a >= 157.5 else (1, 1) if a < 67.5 else (1, 0) if a < 112.5 else (1, -1)
            m = magnitude[y, x]
            if m > padded[1 + y + dy, 1 + x + dx] and m >= padded[1 + y - dy, 1 + x - dx]:
                thin[y, x] = m
    return np.stack([np.maximum(thin - t, 0) for t in thresholds], -1) / 32


def test_ink_features_are_the_photos_edges_thinned_to_one_pixel():
    """The ink path's fixed features against an OpenCV/numpy computation of the same recipe on
    a smooth random picture (ties and the 22.5-degree boundaries aside: at most 1 % of the
    values differ by more than 1e-3); a vertical step's features are one column wide."""
    import cv2

    from cartoongan.models.photo_path import InkFeatures

    rng = np.random.default_rng(0)
    photo = np.clip(rng.normal(0, 0.6, (1, 40, 48, 3)), -1, 1).astype("float32")
    photo[0] = cv2.GaussianBlur(photo[0], (5, 5), 1.5)
    ours = keras.ops.convert_to_numpy(InkFeatures()(photo))[0]
    reference = _reference_ink(photo[0])
    assert ours.shape == reference.shape == (40, 48, 4)
    assert np.mean(np.abs(ours - reference) > 1e-3) <= 0.01
    step = np.full((1, 16, 16, 3), -0.8, np.float32)
    step[:, :, 8:] = 0.8
    columns = np.flatnonzero(keras.ops.convert_to_numpy(InkFeatures()(step))[0, 8, :, 2])
    assert list(columns) == [8]


def test_near_edges_is_the_ink_features_above_10_levels_dilated_by_a_pixel():
    """near_edges against OpenCV's 3x3 dilation of InkFeatures' thinned edges above 10 levels a
    pixel, on a picture of random flat blocks with faint noise (1 on about a third of it); on
    vertical steps, the three columns around a 64-level one and nothing around a 16-level one
    (its edge is about 5 levels a pixel after the blurs)."""
    import cv2

    from cartoongan.models.photo_path import InkFeatures, near_edges

    rng = np.random.default_rng(1)
    photo = np.kron(rng.uniform(-1, 1, (1, 5, 6, 3)), np.ones((1, 8, 8, 1))).astype("float32")
    photo += rng.normal(0, 0.02, photo.shape).astype("float32")
    edges = (keras.ops.convert_to_numpy(InkFeatures()(photo))[0, :, :, 2] > 0).astype(np.uint8)
    reference = cv2.dilate(edges, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    ours = keras.ops.convert_to_numpy(near_edges(photo))[0, :, :, 0]
    assert 0.1 < reference.mean() < 0.9
    assert np.array_equal(ours, reference)
    for levels, columns in ((64, [7, 8, 9]), (16, [])):
        step = np.full((1, 16, 16, 3), -0.5, np.float32)
        step[:, :, 8:] += levels / 127.5
        mask = keras.ops.convert_to_numpy(near_edges(step))[0, :, :, 0]
        assert all(list(np.flatnonzero(row)) == columns for row in mask)


@pytest.mark.parametrize("ink_path", [1, 2])
def test_the_output_parts_are_the_output_before_the_tanh_and_the_photo_and_ink_paths(ink_path):
    """with_output_parts' parts, checked against what is computed here with OpenCV and numpy:
    the photo path's term (the photo's 5x5 median blurred by the 3x3 binomial kernel,
    reflected borders, through its 1x1 weights set to random values, times the gain) within
    1e-5; the output before the tanh, atanh(output); the network's share, that minus the photo
    path and the ink path (the ink features, with ink_path 2 (soft) blurred by the same kernel),
    within 1e-4 where the output is under 0.99 (74 % of it here). A generator without the photo
    path has no parts (None)."""
    import cv2

    from cartoongan.models.photo_path import with_output_parts, with_photo_path

    assert with_output_parts(LightGenerator(filters=8, num_residual_blocks=1)) is None
    keras.utils.set_random_seed(0)
    generator = with_photo_path(LightGenerator(filters=8, num_residual_blocks=1), ink_path=ink_path)
    rng = np.random.default_rng(1)
    head, ink = generator.get_layer("head_photo_conv"), generator.get_layer("ink_photo_conv")
    head.set_weights([rng.normal(0, 0.003, (1, 1, 3, 3)).astype("float32")])
    ink.set_weights([rng.normal(0, 0.003, (1, 1, 4, 3)).astype("float32")])
    photo = np.clip(rng.normal(0, 0.5, (1, 32, 40, 3)), -0.9, 0.9).astype("float32")
    photo[0] = cv2.GaussianBlur(photo[0], (3, 3), 1.0)
    parts = with_output_parts(generator)(photo)
    output, before_tanh, share, photo_term = (keras.ops.convert_to_numpy(t)[0] for t in parts)
    np.testing.assert_array_equal(output, keras.ops.convert_to_numpy(generator(photo))[0])
    kernel = np.outer([1, 2, 1], [1, 2, 1]).astype(np.float32) / 16
    flat = numpy_median(photo, 5)[0].astype(np.float32)
    blurred = cv2.filter2D(flat, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(photo_term, 100 * blurred @ head.get_weights()[0][0, 0], atol=1e-5)
    features = _reference_ink(photo[0])
    if ink_path == 2:
        features = cv2.filter2D(features, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    ink_term = 100 * features @ ink.get_weights()[0][0, 0]
    unsaturated = np.abs(output) < 0.99  # where atanh is well conditioned in float32
    assert unsaturated.mean() > 0.5
    atanh = np.arctanh(output.astype(np.float64))
    np.testing.assert_allclose(before_tanh[unsaturated], atanh[unsaturated], atol=1e-4)
    np.testing.assert_allclose(share[unsaturated], (atanh - photo_term - ink_term)[unsaturated], atol=1e-4)
