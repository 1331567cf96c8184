import numpy as np
import pytest
from PIL import Image

from cartoongan.data import edge_smooth
from tests.conftest import shared_path
from tests.data.edge_smoothing_reference import edge_smooth_reference


def synthetic_anime(height=61, width=83, seed=0):
    """Flat-coloured shapes with hard outlines and a little noise: plenty of Canny edges."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 230, np.uint8)
    yy, xx = np.mgrid[:height, :width]
    for _ in range(6):
        cy, cx, r = rng.integers(0, height), rng.integers(0, width), rng.integers(5, 20)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
    image[10:30, 5:40] = rng.integers(0, 256, 3)
    image[:, -3:] = 0  # an outline on the border exercises the reflect-101 padding
    noise = rng.integers(-3, 4, image.shape)
    return np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)


def check_against_reference(rgb):
    expected, mask = edge_smooth_reference(rgb)
    result = edge_smooth(rgb)
    assert result.dtype == np.uint8 and result.shape == rgb.shape
    assert mask.mean() > 0.05, "the image should have edges to smooth"
    close = np.abs(result.astype(int) - expected.astype(int)) <= 1
    assert close.all(axis=-1).mean() >= 0.999
    np.testing.assert_array_equal(result[~mask], rgb[~mask])  # off the edge mask: unchanged
    assert (result[mask] != rgb[mask]).any()
    return result, expected


def test_matches_per_pixel_reference_on_a_real_anime_image():
    folder = shared_path("data", "anime", "selfie2anime_faces")
    first = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))[0]
    rgb = np.asarray(Image.open(first).convert("RGB"))
    result, expected = check_against_reference(rgb)
    # the 5x5 weights are dyadic, so float64 sums are exact: in fact bit-identical
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("shape", [(61, 83), (8, 9), (40, 40)])
def test_matches_per_pixel_reference_on_synthetic_images(shape):
    rgb = synthetic_anime(*shape)
    if shape == (8, 9):
        rgb = np.zeros((8, 9, 3), np.uint8)
        rgb[:, 4:] = 255
    result, expected = check_against_reference(rgb)
    np.testing.assert_array_equal(result, expected)


def test_flat_image_is_returned_unchanged_as_a_copy():
    rgb = np.full((16, 12, 3), 77, np.uint8)
    result = edge_smooth(rgb)
    np.testing.assert_array_equal(result, rgb)
    assert result is not rgb


def test_rejects_non_rgb_uint8():
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        edge_smooth(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        edge_smooth(np.zeros((4, 4, 3), np.float32))
