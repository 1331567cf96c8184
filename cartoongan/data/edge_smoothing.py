"""Edge smoothing of anime images: the CartoonGAN "edge-promoting" preprocessing.

Chen et al. (CVPR 2018) train the discriminator to tell a clear-edged anime image from
the same image with its edges blurred. The blurred copy is made as in the authors'
code: Canny (100, 200) on the grey image, the edges dilated with a 5x5 block, and on
the dilated pixels only a 5x5 Gaussian with reflect-101 borders, truncated to uint8.
"""

import cv2
import numpy as np

CANNY_THRESHOLDS = (100, 200)
KERNEL_SIZE = 5


def edge_mask(rgb):
    """-> bool HxW: the Canny edges of the grey image, dilated with a 5x5 block."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(grey, *CANNY_THRESHOLDS)
    return cv2.dilate(edges, np.ones((KERNEL_SIZE, KERNEL_SIZE), np.uint8)) != 0


def gaussian_kernel():
    """The 5x5 float64 Gaussian: the outer product of cv2.getGaussianKernel(5, 0)."""
    column = cv2.getGaussianKernel(KERNEL_SIZE, 0)
    return column @ column.T


def edge_smooth(rgb):
    """uint8 RGB HxWx3 -> uint8 RGB HxWx3 with the edge neighbourhoods Gaussian-blurred.

    Pixels off the dilated edge mask are returned unchanged. The whole image is filtered
    at once in float64 and the blurred values truncated (not rounded) to uint8, as the
    per-pixel original does. The weights (1, 4, 6, 4, 1)/16 are dyadic, so every product
    and partial sum is exact in float64 and the result equals the per-pixel loop's bit for
    bit whatever the summation order."""
    rgb = np.ascontiguousarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"edge_smooth takes uint8 HxWx3 RGB, got {rgb.dtype} {rgb.shape}")
    mask = edge_mask(rgb)
    if not mask.any():
        return rgb.copy()
    blurred = cv2.filter2D(rgb.astype(np.float64), cv2.CV_64F, gaussian_kernel(),
                           borderType=cv2.BORDER_REFLECT_101)
    # np.uint8 of a non-negative float truncates, like assigning into a uint8 array.
    return np.where(mask[..., None], blurred.astype(np.uint8), rgb)
