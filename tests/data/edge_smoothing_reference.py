"""The per-pixel edge smoothing of the CartoonGAN authors' preprocessing, loop for loop.

The reference that tests/data/test_edge_smoothing.py and benchmarks/edge_smoothing.py
check `cartoongan.data.edge_smooth` against. Deliberately independent of the library:
it recomputes the mask and the kernel itself.
"""

import cv2
import numpy as np


def edge_smooth_reference(rgb_img, kernel_size=5):
    gray_img = cv2.cvtColor(rgb_img, cv2.COLOR_RGB2GRAY)
    pad = kernel_size // 2
    pad_img = np.pad(rgb_img, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")  # reflect-101
    edges = cv2.Canny(gray_img, 100, 200)
    dilation = cv2.dilate(edges, np.ones((kernel_size, kernel_size), np.uint8))
    gauss = cv2.getGaussianKernel(kernel_size, 0)
    gauss = gauss * gauss.transpose(1, 0)
    gauss_img = np.copy(rgb_img)
    rows, cols = np.where(dilation != 0)
    for y, x in zip(rows, cols):
        window = pad_img[y:y + kernel_size, x:x + kernel_size]
        for channel in range(3):
            # np.uint8 of the float64 sum truncates, as the original's assignment does
            gauss_img[y, x, channel] = np.uint8(np.sum(np.multiply(window[:, :, channel], gauss)))
    return gauss_img, dilation != 0
