"""Network parts every family shares: layers, the discriminator, the photo path. The
generators live with their families (`cartoongan.families.<name>.generator`)."""

# The fixed gain of the photo path (cartoongan.models.photo_path) of the families that have one:
# new paths get PHOTO_PATH_GAIN (measured in docs/learning.md); a generator whose config does
# not say (presets saved before the gain was recorded) has the legacy one. Here, free of
# TensorFlow, so that the training config can offer it.
PHOTO_PATH_GAIN = 100
LEGACY_PHOTO_PATH_GAIN = 10
# The window of the median the photo path's colours are taken from (0: the photo itself, as in
# presets saved without it); new paths get PHOTO_PATH_MEDIAN (docs/learning.md).
PHOTO_PATH_MEDIAN = 5
# What a generator's `ink_path` holds, by its value: none, the photo's edges thinned to one pixel,
# those edges blurred by the 3x3 binomial kernel (docs/learning.md). The training option takes
# the names.
INK_PATHS = ("off", "thin", "soft")
# The windows MedianFilter takes (larger ones make graphs of thousands of comparisons).
MEDIAN_SIZES = (3, 5, 7, 9)


def is_median_window(size):
    """0 (none) or a window MedianFilter takes: what a config's photo_path_median may hold."""
    return isinstance(size, int) and not isinstance(size, bool) and (size == 0 or size in MEDIAN_SIZES)
