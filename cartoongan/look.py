"""The look of a result: post-processing that the Cartoonizer applies after the network, so
the API, the command line, video, Beam and the web page all get it.

- `style_size`: the network runs on the photo shrunk to N px on its long side (the styles
  draw strokes in pixels and were trained on ~256 px crops: at 12 MP they turn into a colour
  filter), and `guided_upsample` brings the result to full size with the photo's own edges.
- `keep_colors`: the result's luma with the photo's chroma (YCbCr).
- `strength`: 0 is the photo, 1 the style; between, a blend of the sRGB values.

The controls themselves, checked, are `cartoongan.options.LookOptions` (light: the command
lines build their flags from it without loading this). Everything here is numpy and OpenCV
on uint8 RGB, streamed in strips of rows, so memory stays bounded at any size. The colour
maths (sRGB <-> CIELAB, CIEDE2000) lives here too.
"""

import cv2
import numpy as np

from cartoongan.options import LookOptions  # noqa: F401  (re-exported: the controls with their maths)

# Rows per strip: the full-resolution work holds ~15 float32 values a pixel, 240 MB for a
# strip of a 4000-pixel-wide photo at 1024 rows; 256 rows keep it near 60 MB.
STRIP_ROWS = 256
# Guided upsampling: window radius (pixels of the small image) and regularisation (on values
# in [0, 1]), from benchmarks/look.py --sweep (a 12 MP photo at style size 1024, hayao): every
# radius 1-4 with eps 1e-5..1e-2 keeps the 1024 px look (33.3-34.6 dB PSNR of the downscaled
# result to it); eps 1e-2 loses a fifth of the photo's edges (gradient energy 0.30 of the
# photo's against 0.35); radius 1 is sharpest at eps 1e-5 (0.38) but 1 dB further from the
# look; radius 4, eps 1e-4 is within 0.2 dB of the best at 0.35, and steady across eps.
GUIDE_RADIUS = 4
GUIDE_EPS = 1e-4


# --- colour ---------------------------------------------------------------------------------

def rgb_to_lab(rgb):
    """uint8 (or float in [0, 255]) sRGB -> float32 CIELAB (D65): L* in [0, 100]."""
    return cv2.cvtColor(np.asarray(rgb, np.float32) / np.float32(255), cv2.COLOR_RGB2Lab)


def lab_to_rgb(lab):
    """float CIELAB -> uint8 sRGB, out-of-gamut values clipped."""
    rgb = cv2.cvtColor(np.asarray(lab, np.float32), cv2.COLOR_Lab2RGB)
    return _to_uint8(rgb * np.float32(255))


def srgb_to_linear(rgb):
    """uint8 sRGB -> float32 linear light in [0, 1] (IEC 61966-2-1)."""
    c = np.asarray(rgb, np.float32) / np.float32(255)
    return np.where(c <= 0.04045, c / np.float32(12.92), ((c + np.float32(0.055)) / np.float32(1.055)) ** 2.4)


def linear_to_srgb(linear):
    c = np.clip(linear, 0, 1)
    c = np.where(c <= 0.0031308, c * np.float32(12.92), np.float32(1.055) * c ** (1 / 2.4) - np.float32(0.055))
    return _to_uint8(c * np.float32(255))


def ciede2000(lab1, lab2):
    """CIEDE2000 colour difference (Sharma, Wu & Dalal 2005, kL = kC = kH = 1) of CIELAB arrays."""
    L1, a1, b1 = (np.asarray(lab1, np.float64)[..., i] for i in range(3))
    L2, a2, b2 = (np.asarray(lab2, np.float64)[..., i] for i in range(3))
    C_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    G = 0.5 * (1 - np.sqrt(C_mean ** 7 / (C_mean ** 7 + 25.0 ** 7)))
    a1, a2 = a1 * (1 + G), a2 * (1 + G)
    C1, C2 = np.hypot(a1, b1), np.hypot(a2, b2)
    h1 = np.degrees(np.arctan2(b1, a1)) % 360
    h2 = np.degrees(np.arctan2(b2, a2)) % 360
    chroma_zero = C1 * C2 == 0
    dh = h2 - h1
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(chroma_zero, 0, dh)
    dL, dC = L2 - L1, C2 - C1
    dH = 2 * np.sqrt(C1 * C2) * np.sin(np.radians(dh / 2))
    L_mean, C_mean = (L1 + L2) / 2, (C1 + C2) / 2
    h_sum = h1 + h2
    h_mean = np.where(np.abs(h1 - h2) > 180, np.where(h_sum < 360, h_sum + 360, h_sum - 360), h_sum) / 2
    h_mean = np.where(chroma_zero, h_sum, h_mean)
    T = (1 - 0.17 * np.cos(np.radians(h_mean - 30)) + 0.24 * np.cos(np.radians(2 * h_mean))
         + 0.32 * np.cos(np.radians(3 * h_mean + 6)) - 0.20 * np.cos(np.radians(4 * h_mean - 63)))
    S_L = 1 + 0.015 * (L_mean - 50) ** 2 / np.sqrt(20 + (L_mean - 50) ** 2)
    S_C = 1 + 0.045 * C_mean
    S_H = 1 + 0.015 * C_mean * T
    R_T = (-2 * np.sqrt(C_mean ** 7 / (C_mean ** 7 + 25.0 ** 7))
           * np.sin(np.radians(60 * np.exp(-(((h_mean - 275) / 25) ** 2)))))
    return np.sqrt((dL / S_L) ** 2 + (dC / S_C) ** 2 + (dH / S_H) ** 2 + R_T * (dC / S_C) * (dH / S_H))


def _to_uint8(values):
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


# --- strength and colour keeping --------------------------------------------------------------

def blend(photo, result, strength, space="rgb"):
    """uint8 `photo` and `result` mixed: `strength` 0 is the photo, 1 the result, exactly.

    `space`: "rgb" (the sRGB values, the default), "linear" (linear light) or "lab"
    (CIELAB). benchmarks/look.py --blend, on the 22 eval photos with hayao: sRGB is as even
    a slider as CIELAB (the CIEDE2000 distance from the photo at strength s is s of the full
    distance within 0.048 against 0.049) and its midpoints lose as little chroma (-2.3
    against -2.2); linear light is worse on both (0.062, -3.0). So sRGB: exact, no colour
    conversion, and the same arithmetic in an exported graph and in the web page."""
    if strength <= 0:
        return np.array(photo, copy=True)
    if strength >= 1:
        return np.array(result, copy=True)
    s = np.float32(strength)
    if space == "rgb":
        p = np.asarray(photo, np.float32)
        return _to_uint8(p + s * (np.asarray(result, np.float32) - p))
    if space == "linear":
        p = srgb_to_linear(photo)
        return linear_to_srgb(p + s * (srgb_to_linear(result) - p))
    if space == "lab":
        p = rgb_to_lab(photo)
        return lab_to_rgb(p + s * (rgb_to_lab(result) - p))
    raise ValueError(f"space must be rgb, linear or lab, not {space!r}")


# BT.601 luma, as JPEG's YCbCr (JFIF) defines it
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def keep_colors(photo, result):
    """The result's luma with the photo's chroma, YCbCr (JPEG's BT.601, full range), in uint8
    RGB. With Cb and Cr fixed, R, G and B all move by the change of Y, so this is the photo
    plus the difference of the two lumas.

    YCbCr rather than CIELAB: benchmarks/look.py --keep-colors on the eval photos found each
    keeps the colours about as well judged in the other's terms (CIELAB a*b* 0.58 from the
    photo's when kept in YCbCr, YCbCr chroma 0.71 levels off when kept in CIELAB, both under
    a just noticeable difference) and the same 1.2% of pixels clipped at the gamut's edge;
    YCbCr is exact (no conversion tables), and linear, so a graph or the web page does the
    same sums."""
    photo = np.asarray(photo, np.float32)
    shift = (np.asarray(result, np.float32) - photo) @ LUMA
    return _to_uint8(photo + shift[..., None])


def apply_look(photo, result, look):
    """`keep_colors`, then `strength`, on a result of the photo's size, strip by strip."""
    if look.strength == 0:
        return np.array(photo, copy=True)
    if look.strength == 1 and not look.keep_colors:
        return result
    out = np.empty_like(result)
    for r0 in range(0, photo.shape[0], STRIP_ROWS):
        p, q = photo[r0:r0 + STRIP_ROWS], result[r0:r0 + STRIP_ROWS]
        if look.keep_colors:
            q = keep_colors(p, q)
        out[r0:r0 + STRIP_ROWS] = blend(p, q, look.strength)
    return out


# --- style scale: guided upsampling ---------------------------------------------------------------

def guided_coefficients(small_photo, small_result, radius=GUIDE_RADIUS, eps=GUIDE_EPS):
    """The guided filter's local linear model (He, Sun & Tang, "Guided Image Filtering"),
    fitted between the small photo (the guide, RGB) and the small result: in every window,
    result ~ A @ photo + b with A 3x3 (colour guide: the style's local colour transform).
    Returns float32 (h, w, 12): A row-major then b, averaged over the windows that cover each
    pixel, for values in [0, 1]."""
    box = lambda x: cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)
    guide = np.asarray(small_photo, np.float32) / np.float32(255)
    target = np.asarray(small_result, np.float32) / np.float32(255)
    height, width = guide.shape[:2]
    mean_i, mean_q = box(guide), box(target)
    # covariances per pixel: guide with guide (3x3) and guide with result (3x3)
    outer = lambda x, y: (x[..., :, None] * y[..., None, :]).reshape(height, width, 9)
    cov_ii = (box(outer(guide, guide)) - outer(mean_i, mean_i)).reshape(height, width, 3, 3)
    cov_iq = (box(outer(guide, target)) - outer(mean_i, mean_q)).reshape(height, width, 3, 3)
    # A^T = Sigma^-1 cov(I, q) per pixel (Sigma is positive definite: eps > 0). In float64:
    # in a flat region the determinant is about eps^3, which float32 resolves badly
    # (17 dB instead of 34 at eps 1e-5).
    sigma = cov_ii.astype(np.float64) + eps * np.eye(3)
    a = np.matmul(_inverse3(sigma), cov_iq).transpose(0, 1, 3, 2).astype(np.float32)
    b = mean_q - np.einsum("hwij,hwj->hwi", a, mean_i)
    return box(np.concatenate([a.reshape(height, width, 9), b], axis=-1))


def _inverse3(m):
    """Inverses of a field of 3x3 matrices (..., 3, 3), by cofactors (a batched
    np.linalg.solve is 5x slower on a million pixels)."""
    c = np.empty_like(m)
    for i in range(3):
        for j in range(3):
            r, s = [k for k in range(3) if k != i], [k for k in range(3) if k != j]
            c[..., j, i] = (-1) ** (i + j) * (m[..., r[0], s[0]] * m[..., r[1], s[1]] - m[..., r[0], s[1]] * m[..., r[1], s[0]])
    det = (m[..., 0, :] * c[..., :, 0]).sum(-1)
    return c / det[..., None, None]


def guided_upsample(photo, small_photo, small_result, radius=GUIDE_RADIUS, eps=GUIDE_EPS, strip_rows=STRIP_ROWS,
                    residual=True):
    """The small result brought to the photo's size (Fast Guided Filter, He & Sun 2015): the
    local linear coefficients fitted at the small size (`guided_coefficients`), upsampled
    and applied to the full-resolution photo, strip by strip (memory: the small coefficients
    plus one strip). uint8 RGB in and out.

    `residual`: the small result minus the fitted model (the strokes a linear function of the
    photo cannot draw) is upsampled with the coefficients and added, so the result shrunk
    back is the small result (34.4 dB against 25.8 dB without, at 1024 px from 12 MP)."""
    coefficients = guided_coefficients(small_photo, small_result, radius, eps)
    if residual:
        fitted = _apply_affine(coefficients, np.asarray(small_photo, np.float32) / np.float32(255))
        # the residual, what the linear model misses (the style's own strokes), rides on b
        coefficients[..., 9:] += np.asarray(small_result, np.float32) / np.float32(255) - fitted
    small_height, small_width = coefficients.shape[:2]
    height, width = photo.shape[:2]
    out = np.empty((height, width, 3), np.uint8)
    for r0 in range(0, height, strip_rows):
        r1 = min(r0 + strip_rows, height)
        strip = _upsample_rows(coefficients, height, r0, r1)
        strip = cv2.resize(strip, (width, r1 - r0), interpolation=cv2.INTER_LANCZOS4)
        guide = photo[r0:r1].astype(np.float32) / np.float32(255)
        q = _apply_affine(strip, guide)
        out[r0:r1] = _to_uint8(q * np.float32(255))
    return out


def _apply_affine(coefficients, guide):
    """A @ guide + b per pixel, for coefficients laid out as `guided_coefficients` gives them."""
    planes, guide = cv2.split(coefficients), cv2.split(guide)  # contiguous planes: 3x faster
    return cv2.merge([planes[9 + i] + planes[3 * i] * guide[0] + planes[3 * i + 1] * guide[1]
                      + planes[3 * i + 2] * guide[2] for i in range(3)])


def _lanczos4(x):
    return np.sinc(x) * np.sinc(x / 4) * (np.abs(x) < 4)


def _upsample_rows(small, height, r0, r1):
    """Rows r0..r1 of `small` (h, w, C) resampled to `height` rows with OpenCV's 8-tap
    Lanczos and pixel-centre alignment: the rows cv2.resize would give, computed from the
    few small rows they need (so upsampling streams). Lanczos rather than bilinear: the
    fitted coefficients and residual keep their detail, and a Lanczos downscale of the result
    comes back to the small result (+3.5 dB PSNR at 1024 px from 12 MP)."""
    small_height = small.shape[0]
    y = (np.arange(r0, r1) + 0.5) * (small_height / height) - 0.5
    base = np.floor(y).astype(np.int64)
    taps = np.arange(-3, 5)
    weights = _lanczos4((y - base)[:, None] - taps[None, :]).astype(np.float32)
    weights /= weights.sum(axis=1, keepdims=True)
    index = np.clip(base[:, None] + taps[None, :], 0, small_height - 1)
    # as one matrix product over the few small rows the strip needs
    first, last = index.min(), index.max()
    matrix = np.zeros((r1 - r0, last - first + 1), np.float32)
    np.add.at(matrix, (np.arange(r1 - r0)[:, None], index - first), weights)
    rows = small[first:last + 1]
    return (matrix @ rows.reshape(len(rows), -1)).reshape(r1 - r0, *small.shape[1:])
