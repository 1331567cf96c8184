"""Uploaded image bytes -> uint8 RGB (and alpha), with the limits checked before decoding;
uint8 RGB -> encoded PNG or JPEG bytes.

Nothing here touches the filesystem: the body is decoded from memory, so no client input
is ever used as a path.
"""

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from cartoongan.images import READ_FORMATS, ImageReadError, read_image

FORMATS = {"png": ("PNG", "image/png"), "jpg": ("JPEG", "image/jpeg"), "jpeg": ("JPEG", "image/jpeg")}
JPEG_QUALITY = 95


class UploadError(ValueError):
    """A body that is not a readable image (HTTP 400)."""


class UploadTooLarge(ValueError):
    """A body over the byte or pixel limit (HTTP 413)."""


def image_size(data, max_pixels):
    """(width, height) from the image header alone (no pixel is decoded): UploadError when
    the bytes are not an image in one of the reader's formats (`images.READ_FORMATS`: fewer
    decoders facing untrusted bytes), UploadTooLarge when it has over `max_pixels`."""
    try:
        with warnings.catch_warnings():
            # Our own, lower limit is checked next; PIL's bomb warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=READ_FORMATS) as image:
                size = image.size
    except Image.DecompressionBombError as error:  # PIL's own ceiling, far above ours
        raise UploadTooLarge(f"image declares more than {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels; "
                             f"the limit is {max_pixels / 1e6:.1f} megapixels") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise UploadError(f"not an image: {_reason(error)}") from error
    check_pixels(size, max_pixels)
    return size


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
