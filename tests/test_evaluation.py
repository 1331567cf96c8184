"""The measurement functions of cartoongan.evaluation that the learning benchmark and the
trainer's guard share: the [-1, 1] round trip, the smoothing yardsticks and the outline score."""

import numpy as np
import pytest

from cartoongan import evaluation


def test_the_unit_range_round_trip_is_exact_on_every_level():
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    x = evaluation.to_unit_range(levels)
    assert x.dtype == np.float32 and x.min() == -1.0 and x.max() == 1.0
    np.testing.assert_array_equal(evaluation.to_uint8(x), levels)
    np.testing.assert_array_equal(evaluation.to_uint8(np.array([-3.0, 3.0])), [0, 255])  # clipped


def _grey_with_line(line_value=20):
    image = np.full((32, 32, 3), 150, np.uint8)
    image[:, 16] = line_value
    return image


def test_outline_mask_finds_a_thin_dark_line_and_not_a_plain_edge():
    mask = evaluation.outline_mask(_grey_with_line())
    assert mask[:, 16].all() and mask.sum() == 32
    edge = np.full((32, 32, 3), 200, np.uint8)
    edge[:, :16] = 30  # the dark side of a step is not a line
    assert not evaluation.outline_mask(edge).any()


def test_outline_score_rewards_drawing_the_line_and_not_smoothing():
    photo = np.full((32, 32, 3), 150, np.uint8)
    target = _grey_with_line()
    half = _grey_with_line(85)  # a line of half the target's depth: 6.0 dB closer there
    assert evaluation.outline_score([half], [photo], [target]) == pytest.approx(6.02, abs=0.05)
    assert evaluation.outline_score([evaluation.binomial_blur(photo)], [photo], [target]) == pytest.approx(0.0)
    assert evaluation.outline_score([photo], [photo], [np.full_like(photo, 90)]) is None  # no outlines drawn


def test_smoothing_floor_is_the_better_of_blur_and_median():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    target = evaluation.median_blur(photo)
    gains = evaluation.smoothing_gains([photo], [target])
    assert gains["floor"] == gains["median5"] == float("inf")  # the median is the target itself
    assert 0 < gains["blur3"] < gains["median5"]


def test_colour_distance_is_the_mean_shift_along_its_projections_whatever_the_order_and_count():
    """A grey offset d moves every projection on a unit vector u by d * (u_r + u_g + u_b): the
    distance is d times the mean |sum| over the 64 fixed directions; shuffled pixels, and a set
    given as other images of the same pixels, are at 0."""
    rng = np.random.default_rng(0)
    images = [rng.integers(20, 200, (30, 40, 3), dtype=np.uint8) for _ in range(3)]
    directions = np.random.default_rng(0).normal(size=(3, 64))
    directions /= np.linalg.norm(directions, axis=0)
    shifted = [image + np.uint8(30) for image in images]
    assert evaluation.colour_distance(shifted, images) == pytest.approx(30 * np.abs(directions.sum(0)).mean(), rel=1e-9)
    pixels = np.concatenate([image.reshape(-1, 3) for image in images])
    shuffled = [rng.permutation(pixels).reshape(60, 60, 3)]
    assert evaluation.colour_distance(shuffled, images) == pytest.approx(0.0, abs=1e-9)


def test_a_colour_reference_sorted_once_measures_many_sets_as_the_closed_form_says():
    """ColourReference sorts the references once: against it, a grey offset of 30 and then of
    10 levels give 30 and 10 times the mean |sum| of the directions, smaller sets of other sizes
    included, and the same pixels shuffled give 0, in any order of use."""
    rng = np.random.default_rng(1)
    images = [rng.integers(20, 200, (30, 40, 3), dtype=np.uint8) for _ in range(3)]
    directions = np.random.default_rng(0).normal(size=(3, 64))
    per_level = np.abs((directions / np.linalg.norm(directions, axis=0)).sum(0)).mean()
    reference = evaluation.ColourReference(images)
    pixels = np.concatenate([image.reshape(-1, 3) for image in images])
    assert reference.distance([rng.permutation(pixels).reshape(90, 40, 3)]) == pytest.approx(0.0, abs=1e-9)
    assert reference.distance([image + np.uint8(30) for image in images]) == pytest.approx(30 * per_level, rel=1e-9)
    assert reference.distance([images[0] + np.uint8(10)]) == pytest.approx(
        evaluation.colour_distance([images[0] + np.uint8(10)], images), rel=1e-12)
    assert reference.distance([image + np.uint8(10) for image in images]) == pytest.approx(10 * per_level, rel=1e-9)
