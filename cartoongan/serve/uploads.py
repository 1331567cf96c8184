"""Uploaded image bytes -> uint8 RGB (and alpha), with the limits checked before decoding;
uint8 RGB -> encoded PNG or JPEG bytes.

Nothing here touches the filesystem: the body is decoded from memory, so no client input
is ever used as a path.
"""

import io
import math
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from cartoongan.images import READ_FORMATS, ImageReadError, read_image

FORMATS = {"png": ("PNG", "image/png"), "jpg": ("JPEG", "image/jpeg"), "jpeg": ("JPEG", "image/jpeg")}
JPEG_QUALITY = 95
# A Huffman-coded JPEG spends at least one bit on every 8x8 block's DC value (even a
# progressive one, whose end-of-band runs make the AC nearly free), and the component
# with the finest sampling has a block for every 64 pixels: at most 512 pixels per byte.
# Measured: a flat grey 3000x3000 JPEG is 35 kB (255 px/byte), a flat colour one 53 kB.
JPEG_MAX_PIXELS_PER_BYTE = 512
# Start-of-frame markers of arithmetic-coded JPEGs, which have no such floor: not checked.
_ARITHMETIC_SOF = tuple(bytes([0xFF, marker]) for marker in (0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))


class UploadError(ValueError):
    """A body that is not a readable image (HTTP 400)."""


class UploadTooLarge(ValueError):
    """A body over the byte or pixel limit (HTTP 413)."""


def image_size(data, max_pixels):
    """(width, height) from the image header alone (no pixel is decoded): UploadError when
    the bytes are not an image in one of the reader's formats (`images.READ_FORMATS`: fewer
    decoders facing untrusted bytes) or a JPEG too short for the size its header claims
    (refused at once, before it queues for a worker), UploadTooLarge when it has over
    `max_pixels`."""
    try:
        with warnings.catch_warnings():
            # Our own, lower limit is checked next; PIL's bomb warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=READ_FORMATS) as image:
                size, image_format = image.size, image.format
    except Image.DecompressionBombError as error:  # PIL's own ceiling, far above ours
        raise UploadTooLarge(f"image declares more than {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels; "
                             f"the limit is {max_pixels / 1e6:.1f} megapixels") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise UploadError(f"not an image: {_reason(error)}") from error
    check_pixels(size, max_pixels)
    if image_format in ("JPEG", "MPO"):
        check_jpeg_length(size, len(data), any(marker in data for marker in _ARITHMETIC_SOF))
    return size


def check_jpeg_length(size, length, arithmetic=False):
    """UploadError when a Huffman-coded JPEG of `size` cannot fit in `length` bytes: a
    truncated file or a forged header (an 11 kB file claiming 3000x3000), which would
    otherwise wait for a worker to find it corrupt. `arithmetic`: not checked (no floor)."""
    width, height = size
    least = math.ceil(width * height / JPEG_MAX_PIXELS_PER_BYTE)
    if not arithmetic and length < least:
        raise UploadError(f"corrupt JPEG: a {width}x{height} JPEG takes at least {least:,} bytes, this one is "
                          f"{length:,} (truncated, or its header claims a size its data does not have)")


def check_pixels(size, max_pixels):
    width, height = size
    if width * height > max_pixels:
        raise UploadTooLarge(f"image is {width}x{height} = {width * height / 1e6:.1f} megapixels; "
                             f"the limit is {max_pixels / 1e6:.1f} megapixels")


def decode_image(data, max_pixels):
    """-> (uint8 RGB HxWx3, uint8 alpha HxW or None), EXIF orientation applied; the pixel
    limit is checked on the header first (UploadTooLarge), so a small file that declares a
    huge image is refused before any memory is spent on it.

    Decoded by the CLI's reader, `cartoongan.images.read_image` (its formats, conversions of
    greyscale, palette and 16-bit images, alpha composited on white), so the web app and the
    CLI give the same pixels for the same file."""
    image_size(data, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return read_image(io.BytesIO(data), pixel_limit=max_pixels)
    except ImageReadError as error:
        raise UploadError(f"not a readable image: {_reason(error.__cause__ or error)}") from error


def encode_image(rgb, alpha, image_format):
    """uint8 RGB (+ alpha, kept in PNG only) -> (bytes, media type)."""
    pil_format, media_type = FORMATS[image_format]
    image = Image.fromarray(np.dstack([rgb, alpha]) if alpha is not None and pil_format == "PNG" else rgb)
    buffer = io.BytesIO()
    image.save(buffer, format=pil_format, **({"quality": JPEG_QUALITY} if pil_format == "JPEG" else {}))
    return buffer.getvalue(), media_type


def _reason(error):
    if isinstance(error, UnidentifiedImageError):
        return "no known image format (JPEG, PNG, WebP, BMP, TIFF, GIF)"  # PIL's names a BytesIO
    return str(error).split("\n")[0][:200] or type(error).__name__
