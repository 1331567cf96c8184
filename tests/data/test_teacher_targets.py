"""Teacher-target crops are windows of the photo downscaled by the project's one resize."""

import numpy as np

from cartoongan.data.teacher_targets import random_crops
from cartoongan.images import resize


def test_crops_are_windows_of_the_photo_resized_by_images_resize():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    # min_scale = max_scale = 1: the short side goes to exactly crop_size (32), i.e. 32 x 48
    crops = random_crops(photo, 32, 4, np.random.default_rng(1), min_scale=1.0, max_scale=1.0)
    small = resize(photo, (48, 32))
    windows = {small[:, left:left + 32].tobytes() for left in range(48 - 32 + 1)}
    assert len(crops) == 4 and all(crop.shape == (32, 32, 3) for crop in crops)
    assert all(crop.tobytes() in windows for crop in crops)


def test_a_photo_already_at_the_crop_scale_is_cropped_unresampled():
    photo = np.random.default_rng(2).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    (crop,) = random_crops(photo, 32, 1, np.random.default_rng(3), min_scale=1.0, max_scale=1.0)
    assert any(np.array_equal(crop, photo[:, left:left + 32]) for left in range(9))
