"""Encoding images to PNG/JPEG bytes, without TensorFlow (the build's worker processes)."""

import io

import numpy as np
from PIL import Image

_ENCODINGS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG"}


def encode_image(rgb, image_format="png", quality=95):
    """uint8 HxWx3 -> PNG or JPEG bytes."""
    pil_format = _ENCODINGS.get(image_format.lower())
    if pil_format is None:
        raise ValueError(f"unknown image format {image_format!r}: use one of {sorted(_ENCODINGS)}")
    buffer = io.BytesIO()
    options = {"quality": quality} if pil_format == "JPEG" else {}
    Image.fromarray(np.asarray(rgb, np.uint8)).save(buffer, format=pil_format, **options)
    return buffer.getvalue()
