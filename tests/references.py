"""Reference computations the tests check the library against, written with numpy alone."""

import numpy as np


def numpy_median(images, size):
    """Each channel's median over the size x size windows of `images` [B, H, W, C], the
    borders reflected (OpenCV's BORDER_REFLECT_101), with numpy's median."""
    halo = size // 2
    padded = np.pad(images, [(0, 0), (halo, halo), (halo, halo), (0, 0)], mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(1, 2))
    return np.median(windows.reshape(*windows.shape[:4], -1), axis=-1)
