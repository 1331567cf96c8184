"""Reading any common image file as uint8 RGB, resizing, and writing results atomically."""

import contextlib
import io
import math
import os
import re
import stat
import struct

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cartoongan.atomic import atomic_file

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
# The decoders tried on a file, whatever its name: those of IMAGE_EXTENSIONS (JPEG also opens
# the MPO files of cameras). Pillow would otherwise sniff its ~40 other formats (AVIF,
# EPS through Ghostscript, PSD, FITS...): more decoders than the tool needs facing untrusted files.
READ_FORMATS = ("JPEG", "PNG", "BMP", "DIB", "WEBP", "TIFF", "GIF")
IMAGE_FORMAT_NAMES = ("JPEG", "PNG", "BMP", "WebP", "TIFF", "GIF")  # as errors name them
# Formats that can carry an alpha channel: the input's transparency is kept there.
_ALPHA_EXTENSIONS = (".png", ".webp", ".tif", ".tiff")


def list_images(folder, skip=(), extensions=IMAGE_EXTENSIONS):
    """Every image file below `folder` (recursive, hidden entries left out), in walk order
    with sorted names. `skip`: folders not to enter (output folders inside the input);
    `extensions`: the names to list (lower case).

    Special files with an image name (a FIFO called x.jpg) are listed too: `read_image`
    refuses them by name instead of hanging on them."""
    skip = {os.path.realpath(path) for path in ([skip] if isinstance(skip, (str, os.PathLike)) else skip)}
    paths = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and os.path.realpath(os.path.join(root, d)) not in skip)
        paths += [os.path.join(root, name) for name in sorted(files)
                  if not name.startswith(".") and name.lower().endswith(tuple(extensions))]
    return paths


def psnr(a, b):
    """Peak signal-to-noise ratio of two uint8-range images, in dB."""
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


class ImageReadError(ValueError):
    """An image file is unreadable or corrupt; the message names it."""


def read_image(path, *, max_size=0, pixel_limit=None):
    """-> (uint8 RGB HxWx3, uint8 alpha HxW or None), EXIF orientation applied.

    `path`: a file path, or a binary file object (uploads, remote files, TFDS records),
    named in errors by its `name` attribute if it has one.

    Greyscale, palette, 16-bit and float images are converted to 8-bit RGB; an alpha
    channel is returned separately (the RGB is composited on white). Anything but a regular
    file (a FIFO, a device, a folder) is refused without being read: reading a FIFO blocks.

    `max_size`: a JPEG that `resize_to_max(rgb, max_size)` would shrink is decoded with the
    decoder's own reduction (1/2, 1/4 or 1/8, in the DCT) to the smallest size whose long
    side is still at least `max_size`, then shrunk to the size `resize_to_max` gives the
    full image: a fraction of the memory and time. Other images are returned whole (0: no
    shrinking); `resize_to_max` after this is a no-op for the JPEGs. `pixel_limit` (default: Pillow's `Image.MAX_IMAGE_PIXELS`, 89.5 MP): an
    image with more pixels than this, as it would be decoded, raises ImageReadError naming
    the file and the limit before its pixels are decoded. (Pillow itself refuses twice
    `Image.MAX_IMAGE_PIXELS` when it opens a file; raise that too for larger limits.)"""
    limit = Image.MAX_IMAGE_PIXELS if pixel_limit is None else pixel_limit
    try:
        opened = _open_regular_file(path) if not hasattr(path, "read") else contextlib.nullcontext(path)
        if hasattr(path, "read"):
            path = getattr(path, "name", "<image bytes>")
        with opened as file, Image.open(file, formats=READ_FORMATS) as image:
            original = image.size
            if max_size and image.format == "JPEG" and max(image.size) > max_size:
                scale = max_size / max(image.size)
                image.draft(image.mode, (math.ceil(image.width * scale), math.ceil(image.height * scale)))
            reduced = image.size != original
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; a 700-byte file
            # may declare 100 megapixels, which decode into gigabytes
            if limit and image.width * image.height > limit:
                shown, shown_limit = _distinct_megapixels(image.width * image.height, limit)
                raise ImageReadError(f"{path}: {image.width}x{image.height} is {shown} megapixels, over the pixel "
                                     f"limit of {shown_limit} megapixels; not decoded")
            if image.format in ("JPEG", "MPO"):
                check_jpeg_data(file, path)
            image.load()
            if image.format == "WEBP" and getattr(image, "n_frames", 1) == 1:
                check_webp_data(file, path)
            rotated = image.getexif().get(0x0112) in (5, 6, 7, 8)  # EXIF orientations that swap W and H
            image = ImageOps.exif_transpose(image)
            if reduced:  # the size resize_to_max gives the full image, not the reduced one
                image = image.resize(_shrunk_size(*(original[::-1] if rotated else original), max_size),
                                     Image.Resampling.LANCZOS)
            return _to_rgb_and_alpha(image)
    except ImageReadError:
        raise
    except MemoryError as error:  # a declared size the decoder cannot allocate
        raise ImageReadError(f"{path}: cannot read image (out of memory for its declared size)") from error
    except UnidentifiedImageError as error:  # its message names the file object (`<_io.BufferedReader name=3>`)
        raise ImageReadError(f"{path}: cannot read image (not a {', '.join(IMAGE_FORMAT_NAMES[:-1])} or "
                             f"{IMAGE_FORMAT_NAMES[-1]} file, or its header is damaged)") from error
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        reason = _FILE_OBJECT.sub("the file", str(error))  # the path is named already, not `name=3`
        raise ImageReadError(f"{path}: cannot read image ({reason})") from error


def check_jpeg_data(file, name):
    """Raises ImageReadError naming `name` when the JPEG in the binary `file` (read whole, then
    rewound) makes libjpeg warn: "Corrupt JPEG data: premature end of data segment", bytes
    before a marker, a truncated file. Pillow's decoder ignores these warnings and fills what
    it could not decode with grey; libjpeg-turbo's strict mode (simplejpeg) raises them. The
    check decodes at 1/8 scale: the entropy decoding, where the warnings arise, is done in
    full, the inverse DCT and colour conversion for an eighth of the pixels."""
    import simplejpeg

    start = file.tell()
    file.seek(0)
    data = file.read()
    file.seek(start)
    try:
        colorspace = simplejpeg.decode_jpeg_header(data)[2]
        simplejpeg.decode_jpeg(data, colorspace=_JPEG_CHECK_COLORSPACE.get(colorspace, "RGB"), fastdct=True,
                               fastupsample=True, min_factor=8, strict=True)
    except ValueError as error:
        raise ImageReadError(f"{name}: corrupt or truncated JPEG ({error}); skipped") from error


# Bytes removed from the end of a WebP's image data for `check_webp_data`: libwebp's encoders
# end a stream with at most 17 bits of padding (libvpx's VP8 writer with 32) and the decoder
# lends 8 zero bits once before it reports the end: a sound stream cannot lose 8 bytes.
_WEBP_CUT = 8


def check_webp_data(file, name):
    """Raises ImageReadError naming `name` when the still WebP in the binary `file` (read
    whole, then rewound) is corrupt in a way its decoder does not report. VP8 (lossy) and
    VP8L (lossless) data are entropy coded without checksums: damaged bytes make the decoder
    lose its place, and libwebp fails only when that runs it past the end of the data;
    otherwise the rest of the picture decodes as garbage. A decoder that lost its place
    ends elsewhere than the data does, almost never within the last few bytes, so the data
    is decoded again with its last `_WEBP_CUT` bytes removed: a sound stream then runs out
    and fails, a damaged one that ended early decodes (caught: docs/reliability.md)."""
    start = file.tell()
    file.seek(0)
    data = file.read()
    file.seek(start)
    shortened = _webp_without_last_bytes(data, _WEBP_CUT)
    if shortened is None:  # an animation, or too short to tell
        return
    try:
        with Image.open(io.BytesIO(shortened), formats=("WEBP",)) as image:
            image.load()
    except (OSError, SyntaxError, ValueError):
        return  # it needed its last bytes: its decoder kept its place to the end
    raise ImageReadError(f"{name}: corrupt WebP: its image data decodes even with its last {_WEBP_CUT} bytes "
                         f"removed, so the decoder lost its place in it (damaged bytes; the picture would be partly "
                         f"garbage)")


def _webp_without_last_bytes(data, count):
    """The WebP `data` with `count` bytes (one more for an even size) cut from the end of its
    VP8 or VP8L chunk, which then ends the file (the metadata chunks after it are dropped:
    libwebp may read on into them); None when it has no such chunk longer than `count` + 1
    (an animation, a broken container)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    position, kept = 12, []
    while position + 8 <= len(data):
        fourcc, size = data[position:position + 4], struct.unpack("<I", data[position + 4:position + 8])[0]
        payload = data[position + 8:position + 8 + size]
        if fourcc in (b"VP8 ", b"VP8L"):
            if len(payload) != size or size <= count + 1:
                return None
            # An even size: RIFF would pad an odd one with a zero byte, which libwebp decodes as data.
            payload = payload[:-count - ((size - count) & 1)]
            body = b"".join(kept) + fourcc + struct.pack("<I", len(payload)) + payload
            return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body
        if fourcc in (b"ANIM", b"ANMF"):
            return None
        kept.append(data[position:position + 8 + size + (size & 1)])
        position += 8 + size + (size & 1)
    return None


# How Python shows an open file in a message: `<_io.BufferedReader name=3>`
_FILE_OBJECT = re.compile(r"<_io\.\w+[^>]*>")
# Output colour spaces libjpeg can convert each JPEG colour space to (it turns no grey into CMYK)
_JPEG_CHECK_COLORSPACE = {"Gray": "GRAY", "CMYK": "CMYK", "YCCK": "CMYK"}


def _distinct_megapixels(pixels, limit):
    """Both counts in megapixels, with as many digits as it takes to tell them apart (80x60 is
    0.0048, not 0.0, over a limit of 0.001)."""
    for digits in range(3, 16):
        shown = f"{pixels / 1e6:.{digits}g}", f"{limit / 1e6:.{digits}g}"
        if shown[0] != shown[1]:
            return shown
    return shown


def _open_regular_file(path):
    # O_NONBLOCK: opening a FIFO for reading must not wait for a writer before we can look.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a special file"
            raise ImageReadError(f"{path}: not a regular file ({kind}); skipped")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _to_rgb_and_alpha(image):
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit / 32-bit single channel: scale the full range down to 8 bits.
        array = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16") or array.max() > 255:
            peak = 65535.0
        elif image.mode == "F" and array.max() <= 1.0:
            peak = 1.0  # float images in [0, 1]
        else:
            peak = 255.0
        grey = np.clip(np.round(array / peak * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1), None
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    alpha = None
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = np.asarray(image.convert("RGBA"))
        alpha = rgba[..., 3].copy()
        weight = alpha[..., None].astype(np.float32) / 255.0
        rgb = rgba[..., :3].astype(np.float32) * weight + 255.0 * (1.0 - weight)
        rgb = np.round(rgb).astype(np.uint8)
        if alpha.min() == 255:
            alpha = None
        return rgb, alpha
    return np.asarray(image.convert("RGB")), alpha


def resize(image, size):
    """A uint8 image (HxW or HxWxC) resampled to `size` (width, height) with Lanczos: the one
    resampling of images in the project (returned as it is when it has that size)."""
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    return np.asarray(Image.fromarray(image).resize(tuple(size), Image.Resampling.LANCZOS))


def resize_to_max(rgb, max_size, alpha=None, side="long"):
    """Shrinks so that the long side (side="short": the short side) is at most `max_size`
    (0: no limit), keeping the aspect ratio; never enlarges. -> (rgb, alpha)."""
    height, width = rgb.shape[:2]
    if not max_size or (max if side == "long" else min)(height, width) <= max_size:
        return rgb, alpha
    size = _shrunk_size(width, height, max_size, side)
    return resize(rgb, size), None if alpha is None else resize(alpha, size)


def _shrunk_size(width, height, max_size, side="long"):
    scale = max_size / (max if side == "long" else min)(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def write_image(path, rgb, alpha=None, quality=95):
    """Writes atomically: a killed run leaves no half-written file under `path`."""
    extension = os.path.splitext(path)[1].lower()
    image = Image.fromarray(rgb)
    if alpha is not None and extension in _ALPHA_EXTENSIONS:
        image = Image.fromarray(np.dstack([rgb, alpha]))
    image_format = Image.registered_extensions().get(extension)
    if image_format is None:
        raise ValueError(f"{path}: unknown image format {extension!r}")
    options = {"quality": quality} if image_format in ("JPEG", "WEBP") else {}
    try:
        with atomic_file(path, suffix=extension) as partial:
            image.save(partial, format=image_format, **options)
    except OSError as error:  # a full disk says "No space left on device" without the path
        raise OSError(error.errno, f"{path}: cannot write ({error.strerror or error})") from error
