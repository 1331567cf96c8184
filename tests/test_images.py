import os

import numpy as np
import pytest
from PIL import Image

from cartoongan.images import ImageReadError, read_image, resize_to_max, write_image


def _photo(h=12, w=20):
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_greyscale_palette_and_rgb(tmp_path):
    rgb = _photo()
    Image.fromarray(rgb).convert("L").save(tmp_path / "grey.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.gif")
    grey, alpha = read_image(tmp_path / "grey.png")
    assert grey.shape == (12, 20, 3) and alpha is None
    assert (grey[..., 0] == grey[..., 1]).all()
    palette, _ = read_image(tmp_path / "palette.gif")
    assert palette.shape == (12, 20, 3) and palette.dtype == np.uint8


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 12 * 20).reshape(12, 20).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    rgb, _ = read_image(tmp_path / "deep.png")
    assert rgb.min() == 0 and rgb.max() == 255
    assert abs(int(rgb[6, 10, 0]) - round(ramp[6, 10] / 257)) <= 1


def test_rgba_is_composited_and_alpha_kept(tmp_path):
    rgba = np.dstack([_photo(), np.full((12, 20), 0, np.uint8)])
    rgba[:6, :, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "a.png")
    rgb, alpha = read_image(tmp_path / "a.png")
    assert (rgb[6:] == 255).all()  # fully transparent -> white
    np.testing.assert_array_equal(rgb[:6], rgba[:6, :, :3])
    np.testing.assert_array_equal(alpha, rgba[..., 3])


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((10, 30, 3), np.uint8)
    pixels[:, :5] = 255  # a white band on the stored image's left edge
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: the left edge becomes the top
    image.save(tmp_path / "rotated.png", exif=exif)
    rgb, _ = read_image(tmp_path / "rotated.png")
    assert rgb.shape == (30, 10, 3)
    assert rgb[:5].min() == 255 and rgb[5:].max() == 0


def test_float_images_in_unit_range(tmp_path):
    Image.fromarray(np.full((4, 6), 0.5, np.float32), mode="F").save(tmp_path / "f.tif")
    rgb, _ = read_image(tmp_path / "f.tif")
    assert abs(int(rgb[0, 0, 0]) - 128) <= 1


def test_corrupt_file_error_names_it(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageReadError, match="broken.jpg"):
        read_image(tmp_path / "broken.jpg")


def test_resize_caps_long_side_and_never_enlarges():
    rgb = _photo(100, 300)
    small, _ = resize_to_max(rgb, 150)
    assert small.shape == (50, 150, 3)
    same, _ = resize_to_max(rgb, 0)
    assert same is rgb
    assert resize_to_max(rgb, 1000)[0] is rgb


def test_write_is_atomic_and_leaves_no_partial_file(tmp_path, monkeypatch):
    write_image(tmp_path / "ok.png", _photo())
    assert os.listdir(tmp_path) == ["ok.png"]

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", explode)
    with pytest.raises(OSError):
        write_image(tmp_path / "ok.png", _photo(4, 4))
    assert os.listdir(tmp_path) == ["ok.png"]
    assert Image.open(tmp_path / "ok.png").size == (20, 12)  # the earlier file is intact


def test_read_image_takes_a_file_object_too(tmp_path):
    """Uploads, remote files and TFDS records arrive as bytes."""
    import io

    rgb = np.random.default_rng(1).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    from_bytes, alpha = read_image(io.BytesIO((tmp_path / "a.png").read_bytes()))
    assert np.array_equal(from_bytes, rgb) and alpha is None
    with pytest.raises(ImageReadError, match="<image bytes>"):
        read_image(io.BytesIO(b"not an image"))


def test_resize_to_max_shrinks_the_long_or_the_short_side_alike():
    rgb = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    assert resize_to_max(rgb, 20)[0].shape == (12, 20, 3)  # 50 -> 20, 30 * 0.4 = 12
    assert resize_to_max(rgb, 20, side="short")[0].shape == (20, 33, 3)  # 30 -> 20, 50 * 2/3 = 33.3
    assert resize_to_max(rgb, 30, side="short")[0] is rgb  # never enlarges, never resamples in place
    alpha = np.full((30, 50), 255, np.uint8)
    assert resize_to_max(rgb, 20, alpha, side="short")[1].shape == (20, 33)
