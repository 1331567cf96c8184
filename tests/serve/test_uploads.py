"""Upload decoding (limits before decoding, the CLI reader's conversions) and the queue."""

import io
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from cartoongan.images import read_image
from cartoongan.serve import uploads
from cartoongan.serve.queue import InferenceQueue, QueueFull
from cartoongan.serve.uploads import UploadError, UploadTooLarge, decode_image, encode_image, image_size
from tests.serve.conftest import encode, photo


def png_header_only(width, height):
    """A valid PNG signature and IHDR declaring width x height, then a tiny IDAT: a few
    dozen bytes that claim gigapixels (a decompression bomb's shape)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side, message", [(5_000, "25.0 megapixels; the limit is 16.0"),
                                           (100_000, "more than 179 megapixels; the limit is 16.0")])
def test_a_forged_header_is_refused_before_decoding(side, message):
    data = png_header_only(side, side)
    start = time.perf_counter()
    with pytest.raises(UploadTooLarge, match=message):
        decode_image(data, 16_000_000)
    assert time.perf_counter() - start < 0.5  # nothing was decoded


def test_image_size_reads_the_header_only():
    assert image_size(png_header_only(5_000, 3_000), 15_000_000) == (5_000, 3_000)


@pytest.mark.parametrize("data", [b"", b"hello", b"\x89PNG\r\n\x1a\n", b"GIF89a" + b"\0" * 4])
def test_bytes_that_are_not_an_image(data):
    with pytest.raises(UploadError, match="not a"):
        decode_image(data, 10**6)


def test_formats_the_cli_reader_does_not_decode_are_refused_from_the_header():
    """Uploads meet the reader's decoders only (JPEG, PNG, WebP, BMP, TIFF, GIF), as files
    given to the CLI do: Pillow would otherwise sniff some 40 more formats on untrusted bytes."""
    with pytest.raises(UploadError, match="not an image: no known image format"):
        decode_image(encode(photo(8, 8), "PPM"), 10**6)


def test_a_truncated_image_is_an_upload_error():
    data = encode(photo(64, 48), "JPEG", quality=90)
    with pytest.raises(UploadError, match="not a readable image"):
        decode_image(data[: len(data) // 2], 10**6)


@pytest.mark.parametrize("mode, image_format", [("RGB", "JPEG"), ("L", "PNG"), ("RGBA", "PNG"), ("P", "GIF"),
                                                ("I;16", "PNG"), ("LA", "PNG")])
def test_decoding_matches_the_cli_reader(tmp_path, mode, image_format):
    image = photo(37, 23, mode="RGB")
    if mode == "RGBA" or mode == "LA":
        image.putalpha(Image.linear_gradient("L").resize(image.size))
    image = image.convert(mode)
    data = encode(image, image_format)
    path = tmp_path / f"x.{image_format.lower()}"
    path.write_bytes(data)
    rgb, alpha = decode_image(data, 10**6)
    expected_rgb, expected_alpha = read_image(str(path))
    np.testing.assert_array_equal(rgb, expected_rgb)
    assert (alpha is None) == (expected_alpha is None)
    if alpha is not None:
        np.testing.assert_array_equal(alpha, expected_alpha)


def test_exif_orientation_is_applied():
    image = photo(40, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    rgb, _ = decode_image(encode(image, "JPEG", exif=exif), 10**6)
    assert rgb.shape == (40, 20, 3)


def test_encode_png_keeps_alpha_and_jpg_drops_it():
    rgb = np.asarray(photo(9, 7))
    alpha = np.full((7, 9), 128, np.uint8)
    data, media_type = encode_image(rgb, alpha, "png")
    assert media_type == "image/png"
    decoded = np.asarray(Image.open(io.BytesIO(data)))
    np.testing.assert_array_equal(decoded[..., :3], rgb)
    np.testing.assert_array_equal(decoded[..., 3], alpha)
    data, media_type = encode_image(rgb, alpha, "jpg")
    assert media_type == "image/jpeg" and data[:2] == b"\xff\xd8"


def test_queue_refuses_beyond_workers_plus_waiting_and_frees_slots():
    queue = InferenceQueue(workers=1, queue_size=1)
    release = threading.Event()
    ran = []
    try:
        running = queue.submit(lambda: release.wait(10) and ran.append("first"))
        waiting = queue.submit(lambda: ran.append("second"))
        with pytest.raises(QueueFull) as refused:
            queue.submit(lambda: ran.append("third"))
        assert refused.value.retry_after >= 1
        # A waiting job whose client went away leaves at once and never runs.
        assert waiting.cancel()
        third = queue.submit(lambda: ran.append("third"))
        release.set()
        running.result(10), third.result(10)
        assert ran == ["first", "third"]
        assert queue.stats()["running"] == 0 and queue.stats()["waiting"] == 0
    finally:
        release.set()
        queue.shutdown()


def test_retry_after_grows_with_the_measured_job_time():
    queue = InferenceQueue(workers=1, queue_size=0)
    try:
        queue.submit(time.sleep, 1.2).result(10)
        release = threading.Event()
        blocker = queue.submit(release.wait, 10)
        with pytest.raises(QueueFull) as refused:
            queue.submit(time.sleep, 0)
        assert refused.value.retry_after == 2  # one job ahead, about 1.2 s each, rounded up
        assert queue.stats()["median_seconds"] > 1.0
        release.set()
        blocker.result(10)
    finally:
        queue.shutdown()


def test_retry_after_is_the_median_job_time_not_inflated_by_one_slow_job():
    """One 60 s job (a huge photo) among 2 s ones: the hint stays near 2 s a job. The
    moving mean it replaced still said 25 s after four fast jobs."""
    now = [0.0]
    queue = InferenceQueue(workers=1, queue_size=1, clock=lambda: now[0])
    release = threading.Event()

    def job(seconds):
        now[0] += seconds

    try:
        for seconds in (60, 2, 2, 2, 2):
            queue.submit(job, seconds).result(10)
        blocker, waiting = queue.submit(release.wait, 10), queue.submit(job, 0)
        with pytest.raises(QueueFull) as refused:
            queue.submit(job, 0)
        assert refused.value.retry_after == 4  # two jobs ahead (one running, one waiting), 2 s each
        assert queue.stats()["median_seconds"] == 2
        release.set()
        blocker.result(10), waiting.result(10)
    finally:
        release.set()
        queue.shutdown()


def test_a_failing_job_frees_its_slot():
    queue = InferenceQueue(workers=1, queue_size=0)
    try:
        with pytest.raises(ZeroDivisionError):
            queue.submit(lambda: 1 / 0).result(10)
        assert queue.submit(lambda: 7).result(10) == 7
    finally:
        queue.shutdown()


def forged_jpeg_size(data, width, height):
    """`data`, a JPEG, with its start-of-frame header claiming width x height."""
    at = 2
    while data[at + 1] not in (0xC0, 0xC1, 0xC2):  # walk the marker segments to the frame header
        at += 2 + struct.unpack(">H", data[at + 2:at + 4])[0]
    return data[:at + 5] + struct.pack(">HH", height, width) + data[at + 9:]


def noisy_jpeg(width=80, height=64):
    rng = np.random.default_rng(0)
    return encode(Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)), "JPEG", quality=95)


def test_a_jpeg_too_short_for_its_claimed_size_is_refused_from_the_header():
    """An 11 kB upload claiming 3000x3000 would hold the only worker for 36 s.
    No Huffman-coded JPEG of 9 megapixels fits in under 17.6 kB (a bit per 8x8 block)."""
    data = forged_jpeg_size(noisy_jpeg(), 3000, 3000)
    data += b"\0" * (11_000 - len(data))
    start = time.perf_counter()
    with pytest.raises(UploadError, match="corrupt JPEG: a 3000x3000 JPEG takes at least 17,579 bytes, this one is "
                                          "11,000"):
        image_size(data, 16_000_000)
    assert time.perf_counter() - start < 0.05  # the header alone: nothing was decoded


def test_the_densest_real_jpegs_pass_the_length_check():
    """Flat images are the most compressible: progressive, optimized, grey or colour, they
    stay under the 512 pixels a byte that the check allows (about 255 and 170 measured)."""
    for mode in ("L", "RGB"):
        image = Image.new(mode, (2000, 1500), 90 if mode == "L" else (90, 140, 200))
        data = encode(image, "JPEG", quality=10, progressive=True, optimize=True)
        assert len(data) < 2000 * 1500 / 128  # as dense as real JPEGs get
        assert image_size(data, 16_000_000) == (2000, 1500)
        rgb, _ = decode_image(data, 16_000_000)
        assert rgb.shape == (1500, 2000, 3)
    uploads.check_jpeg_length((3000, 3000), 11_000, arithmetic=True)  # arithmetic coding has no such floor: left alone


@pytest.mark.parametrize("damage", ["random bytes in the middle", "header claims 400x400"])
def test_a_corrupt_jpeg_is_an_upload_error_not_grey_rows(damage):
    """Pillow decodes both with a warning only and fills the rest with grey; the shared
    reader's strict check (cartoongan.images.check_jpeg_data) refuses them."""
    data = noisy_jpeg()
    if damage == "random bytes in the middle":
        middle = len(data) // 2
        data = data[:middle] + np.random.default_rng(1).integers(0, 256, 400, dtype=np.uint8).tobytes() + data[middle:]
    else:
        data = forged_jpeg_size(data, 400, 400)
    with pytest.raises(UploadError, match="not a readable image: Corrupt JPEG data"):
        decode_image(data, 10**6)
