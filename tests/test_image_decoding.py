"""Decoding in bounded memory: JPEG reduction when the image will be shrunk, a pixel limit."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from cartoongan.images import ImageReadError, psnr, read_image, resize_to_max


def _photo(width, height):
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([(x * 255 // width), (y * 255 // height), ((x + y) % 64) * 4], -1)
    return rgb.astype(np.uint8)


def test_jpeg_is_decoded_reduced_when_it_will_be_shrunk(tmp_path, monkeypatch):
    path = tmp_path / "big.jpg"
    Image.fromarray(_photo(1600, 1200)).save(path, quality=95)
    decoded = []
    original_load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self.size) or original_load(self))
    reduced, _ = read_image(path, max_size=300)
    assert decoded[0] == (400, 300)  # 1/4 in the DCT: the smallest with a long side >= 300
    full, _ = read_image(path)
    assert full.shape == (1200, 1600, 3)
    shrunk_full, _ = resize_to_max(full, 300)
    assert reduced.shape == shrunk_full.shape == (225, 300, 3)
    assert resize_to_max(reduced, 300)[0] is reduced
    assert psnr(reduced, shrunk_full) > 30


@pytest.mark.parametrize("size", [(41, 30), (1000, 750), (999, 457), (457, 999)])
@pytest.mark.parametrize("max_size", [20, 300, 600, 5000])
def test_reduced_jpeg_has_the_size_of_the_shrunk_full_image(tmp_path, size, max_size):
    path = tmp_path / "photo.jpg"
    Image.fromarray(_photo(*size)).save(path)
    rgb, _ = resize_to_max(read_image(path, max_size=max_size)[0], max_size)
    assert rgb.shape == resize_to_max(read_image(path)[0], max_size)[0].shape


def test_reduced_jpeg_keeps_exif_orientation(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    Image.fromarray(_photo(1600, 801)).save(path, exif=exif.tobytes())
    rgb, _ = read_image(path, max_size=400)
    assert rgb.shape == (400, 200, 3) == resize_to_max(read_image(path)[0], 400)[0].shape


def test_png_is_decoded_whole_whatever_max_size(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(_photo(64, 48)).save(path)
    assert read_image(path, max_size=16)[0].shape == (48, 64, 3)


def test_pixel_limit_names_the_file_and_the_limit(tmp_path):
    path = tmp_path / "wide.png"
    Image.fromarray(_photo(100, 80)).save(path)
    with pytest.raises(ImageReadError, match=r"wide\.png: 100x80 .* over the pixel limit of 0\.005 megapixels"):
        read_image(path, pixel_limit=5000)
    assert read_image(path, pixel_limit=8000)[0].shape == (80, 100, 3)
    assert read_image(path)[0].shape == (80, 100, 3)  # default: Pillow's MAX_IMAGE_PIXELS


def test_pixel_limit_applies_to_the_reduced_jpeg(tmp_path):
    path = tmp_path / "big.jpg"
    Image.fromarray(_photo(1600, 1200)).save(path)
    with pytest.raises(ImageReadError, match="over the pixel limit"):
        read_image(path, pixel_limit=1_000_000)
    assert read_image(path, max_size=400, pixel_limit=1_000_000)[0].shape == (300, 400, 3)  # decoded at 1/2


def test_huge_declared_png_is_refused_before_decoding(tmp_path):
    """A tiny file claiming 13000x13000 16-bit pixels (5 GB to decode) is refused by its header
    (Pillow alone only warns below twice its MAX_IMAGE_PIXELS)."""
    path = tmp_path / "bomb.png"
    Image.new("I;16", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", 13000, 13000)
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr:ihdr + 17])))
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match=r"bomb\.png: 13000x13000 is 169\.0 megapixels, over the pixel limit of 89\.4785 megapixels"):
        read_image(path)
