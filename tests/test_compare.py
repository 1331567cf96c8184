"""cartoongan-compare (cartoongan.compare, cartoongan.cli.compare): the labelled sheet and
the table, the looks, and the guarantees of the command: it never replaces a file unasked,
refuses an output it cannot write before any work, leaves out an unreadable photo by name,
pages a sheet too tall for its format and holds one photo at a time (memory bounded)."""

import os
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from cartoongan import Cartoonizer, compare, look
from cartoongan.errors import ParameterError
from cartoongan.images import resize
from cartoongan.options import LookOptions
from tests.test_look import reference_lab, smooth_photo


@pytest.fixture(scope="module")
def tiny(tiny_preset):
    return Cartoonizer.from_pretrained(str(tiny_preset), precision="float32")


# --- the sheet and the table ---------------------------------------------------------------

def test_parse_look():
    from cartoongan.compare import look_label, parse_look

    assert parse_look("default") == LookOptions()
    assert parse_look("strength=0.5, keep-colors=true") == LookOptions(strength=0.5, keep_colors=True)
    assert look_label(parse_look("style_size=512,strength=0.25")) == "style_size=512,strength=0.25"
    with pytest.raises(ParameterError, match="strength must be"):
        parse_look("strength=2")
    with pytest.raises(ParameterError, match="style_size cannot be 'big'"):
        parse_look("style_size=big")
    with pytest.raises(ValueError, match="unknown look option 'colour'"):
        parse_look("colour=red")
    with pytest.raises(ValueError, match="expected field=value"):
        parse_look("strength")


def test_colour_shift_sees_casts_not_strokes():
    from cartoongan.compare import colour_shift

    photo = np.full((64, 96, 3), 128, np.uint8)
    cast = np.full_like(photo, 0) + np.array([150, 128, 110], np.uint8)
    expected = look.ciede2000(reference_lab(photo[:1, :1]), reference_lab(cast[:1, :1]))[0, 0]
    assert colour_shift(photo, cast) == pytest.approx(expected, abs=0.3)
    strokes = photo.astype(np.int32)
    strokes[::2] += 40
    strokes[1::2] -= 40  # dark and light lines: each pixel far from the photo, the mean colour not
    assert look.ciede2000(reference_lab(photo), reference_lab(strokes)).mean() > 10
    assert colour_shift(photo, strokes.astype(np.uint8)) < 1.0
    assert colour_shift(photo, photo) == 0


def test_colour_shift_of_a_large_photo_works_in_bands_of_rows():
    """The mean over a 512 x 384 photo, computed a band of rows at a time, is the mean over the
    whole picture (CIELAB here in float64 from the sRGB formulas), and its temporaries stay
    small: the whole-picture computation allocated 60 MB (float64 arrays of CIEDE2000), which
    sat on top of TensorFlow's working set in every photo of a compare run; 15 MB measured."""
    import cv2

    from cartoongan.compare import colour_shift

    photo = smooth_photo(384, 512, seed=3)
    result = np.clip(photo.astype(np.int32) * [1.1, 0.9, 1.0] + np.arange(512)[:, None] % 7, 0, 255).astype(np.uint8)
    blur = lambda image: cv2.GaussianBlur(image.astype(np.float32), (0, 0), 16, borderType=cv2.BORDER_REFLECT)
    whole = look.ciede2000(reference_lab(blur(photo)), reference_lab(blur(result))).mean()
    tracemalloc.start()
    shift = colour_shift(photo, result)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert shift == pytest.approx(whole, abs=0.01)
    assert peak < 25e6, peak


def test_colour_shift_as_cie76_is_the_lab_distance_of_a_cast():
    from cartoongan.compare import colour_shift

    photo = np.full((64, 96, 3), 128, np.uint8)
    cast = np.full_like(photo, 0) + np.array([150, 128, 110], np.uint8)
    expected = np.linalg.norm(reference_lab(photo[:1, :1])[0, 0] - reference_lab(cast[:1, :1])[0, 0])
    assert colour_shift(photo, cast, "cie76") == pytest.approx(expected, abs=0.3)
    assert colour_shift(photo, cast, "cie76") > colour_shift(photo, cast) + 1  # CIEDE2000 weighs chroma less
    with pytest.raises(ValueError, match="cie76"):
        colour_shift(photo, cast, "cie94")


def test_compare_lays_out_photos_by_styles_and_looks(tiny):
    from cartoongan.compare import compare, parse_look

    photos = {"a": smooth_photo(60, 90, seed=11), "b": smooth_photo(90, 60, seed=12)}
    sheet, rows = compare(photos, {"tiny": tiny}, [parse_look("default"), parse_look("strength=0")], cell=64)
    # columns: photo, tiny default, tiny strength 0; rows: a label band, 64x43 and 43x64 (centred: 10 px in)
    assert sheet.shape == (16 + 43 + 64, 3 * 64, 3)
    np.testing.assert_array_equal(sheet[16:59, :64], resize(photos["a"], (64, 43)))
    np.testing.assert_array_equal(sheet[16:59, 128:], sheet[16:59, :64])  # strength 0: the photo
    np.testing.assert_array_equal(sheet[59:, 64 + 10:64 + 53], resize(tiny(photos["b"]), (43, 64)))
    assert [(row.style, row.look) for row in rows] == [("tiny", "default"), ("tiny", "strength=0")]
    assert rows[0].colour_shift > 1 and rows[1].colour_shift == 0
    assert all(row.seconds_per_megapixel > 0 for row in rows)


def test_compare_cli_writes_the_sheet_and_the_table(tmp_path, tiny_preset, capsys):
    from cartoongan.cli.compare import main

    Image.fromarray(smooth_photo(40, 60, seed=13)).save(tmp_path / "a.png")
    args = ["--styles", str(tiny_preset), "--looks", "default", "keep_colors=1", "--cell", "48"]
    assert main(["--photos", str(tmp_path / "a.png"), "--output", str(tmp_path / "sheet.png"), *args]) == 0
    assert np.asarray(Image.open(tmp_path / "sheet.png")).shape == (16 + 32, 3 * 48, 3)
    table = capsys.readouterr().out
    assert "| tiny | default |" in table and "| tiny | keep_colors=True |" in table
    with pytest.raises(SystemExit):
        main(["--photos", str(tmp_path / "a.png"), "--output", str(tmp_path / "x.png"), "--looks", "strength=3"])
    assert "strength must be a number from 0 to 1" in capsys.readouterr().err


def test_an_unreadable_photo_is_named_and_left_out_and_the_rest_compared(tmp_path, tiny_preset, capsys):
    """Was: one unreadable photo aborted the whole run (exit 2, no sheet) with a message ending
    in "; skipped". Now it is named, left out, the others are compared and the status is 1."""
    from cartoongan.cli.compare import main

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(smooth_photo(40, 60, seed=13)).save(photos / "a.png")
    Image.fromarray(smooth_photo(60, 40, seed=14)).save(photos / "c.png")
    (photos / "b.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    assert main(["--photos", str(photos), "--output", str(tmp_path / "sheet.png"), "--styles", str(tiny_preset),
                 "--cell", "48"]) == 1
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if "b.jpg" in line and "error" in line]
    assert line.startswith(f"cartoongan-compare: error: {photos / 'b.jpg'}: ") and "skipped" not in line
    assert line.endswith("; left out of the sheet")
    assert np.asarray(Image.open(tmp_path / "sheet.png")).shape == (16 + 32 + 48, 2 * 48, 3)  # a and c
    assert f"left out 1 unreadable: {photos / 'b.jpg'}" in err


@pytest.fixture
def no_work(monkeypatch):
    """Loading a style fails the test: refusals must come before any work."""
    def refuse(*args, **kwargs):
        raise AssertionError("a style was loaded")
    monkeypatch.setattr(Cartoonizer, "from_pretrained", refuse)


def _refused(argv, capsys):
    from cartoongan.cli.compare import main

    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_an_existing_sheet_is_never_replaced_unasked(tmp_path, tiny_preset, capsys):
    """Was: `--output existing.jpg` silently replaced the user's file, and a link given as
    --output was itself replaced. Now: refused before any work without --overwrite; with it,
    a link is written through (it stays a link)."""
    from cartoongan.cli.compare import main

    Image.fromarray(smooth_photo(40, 60, seed=13)).save(tmp_path / "a.png")
    (tmp_path / "mine.png").write_bytes(b"the user's picture")
    (tmp_path / "link.png").symlink_to(tmp_path / "target.png")
    args = ["--photos", str(tmp_path / "a.png"), "--styles", str(tiny_preset), "--cell", "48"]
    for name in ("mine.png", "link.png"):
        message = _refused(args + ["--output", str(tmp_path / name)], capsys)
        assert message.endswith(f"--output {tmp_path / name} exists (use --overwrite to replace it)")
    assert (tmp_path / "mine.png").read_bytes() == b"the user's picture" and not (tmp_path / "target.png").exists()
    assert main(args + ["--output", str(tmp_path / "link.png"), "--overwrite"]) == 0
    assert os.readlink(tmp_path / "link.png") == str(tmp_path / "target.png")
    assert Image.open(tmp_path / "target.png").size == (2 * 48, 16 + 32)
    assert main(args + ["--output", str(tmp_path / "mine.png"), "--overwrite"]) == 0
    assert Image.open(tmp_path / "mine.png").size == (2 * 48, 16 + 32)


@pytest.mark.parametrize("output, message", [
    ("d.jpg", "--output {tmp}/d.jpg is a folder"),
    ("file.txt/sheet.png", "--output {tmp}/file.txt/sheet.png: {tmp}/file.txt is not a folder"),
    ("a.png", "--output {tmp}/a.png is one of the photos"),
])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path, no_work, capsys, output, message):
    """Was: a folder named `d.jpg`, or an unwritable path, ended in a traceback after the work."""
    Image.fromarray(smooth_photo(40, 60, seed=13)).save(tmp_path / "a.png")
    (tmp_path / "d.jpg").mkdir()
    (tmp_path / "file.txt").write_text("a file")
    error = _refused(["--photos", str(tmp_path / "a.png"), "--output", str(tmp_path / output), "--overwrite"], capsys)
    assert error.endswith(message.format(tmp=tmp_path))


def test_an_unwritable_folder_is_refused_before_any_work(tmp_path, no_work, capsys):
    from cartoongan.cli.compare import check_pages

    assert check_pages(["/proc/sheet.png"], [], False).startswith("--output /proc/sheet.png: cannot write in /proc (")
    Image.fromarray(smooth_photo(40, 60, seed=13)).save(tmp_path / "a.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root writes anywhere: a read-only place it cannot
            pytest.skip("running as root: a folder without write permission is still writable")
        error = _refused(["--photos", str(tmp_path / "a.png"), "--output", str(locked / "s.png")], capsys)
        assert error.endswith(f"--output {locked / 's.png'}: cannot write in {locked} (Permission denied)")
    finally:
        locked.chmod(0o700)


def test_a_sheet_too_tall_for_its_format_continues_on_pages(tmp_path, tiny_preset, monkeypatch, capsys):
    """Was: 300 photos as .jpg (over 65,535 px) failed at the very end ("broken data stream").
    The pages are known and checked before the work; each starts with the labels."""
    from cartoongan.cli.compare import main

    assert compare.page_paths("s.jpg", 300, 2) == ["s.jpg", "s-2.jpg", "s-3.jpg"]  # 127 a page: 16 M pixels
    assert compare.page_paths("s.jpg", 600, 2, cell=128) == ["s.jpg", "s-2.jpg"]  # 511 a page: 65,535 px
    assert 16 + compare.photos_per_page("s.jpg", 2, cell=128) * 128 <= 65_535 < 16 + 512 * 128
    assert len(compare.page_paths("s.jpg", 600, 3)) == 8  # 85 a page, 768 px wide
    assert compare.page_paths("s.webp", 64, 2) == ["s.webp", "s-2.webp"]  # 63 a page (16,383 px)
    assert compare.page_paths("s.png", 100_000, 9) == ["s.png"]  # streamed: any length
    monkeypatch.setitem(compare.MAX_HEIGHT, ".jpg", 16 + 3 * 48)
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(7):
        Image.fromarray(smooth_photo(40, 60, seed=index)).save(photos / f"{index}.png")
    (tmp_path / "sheet-3.jpg").write_bytes(b"the user's")
    args = ["--photos", str(photos), "--styles", str(tiny_preset), "--cell", "48", "--output", str(tmp_path / "sheet.jpg")]
    assert _refused(args, capsys).endswith(f"--output {tmp_path / 'sheet-3.jpg'} exists (use --overwrite to replace it)")
    (tmp_path / "sheet-3.jpg").unlink()
    assert main(args) == 0
    sizes = [Image.open(tmp_path / name).size for name in ("sheet.jpg", "sheet-2.jpg", "sheet-3.jpg")]
    assert sizes == [(96, 16 + 3 * 32), (96, 16 + 3 * 32), (96, 16 + 32)]
    assert f"wrote {tmp_path / 'sheet.jpg'}, {tmp_path / 'sheet-2.jpg'}, {tmp_path / 'sheet-3.jpg'}: 7 photos" in \
        capsys.readouterr().err


def test_a_streamed_png_is_the_picture(tmp_path):
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (2500, 37, 3), dtype=np.uint8)
    picture[1000:] = picture[1000:] // 3  # smooth and noisy parts, several blocks
    compare.write_png(str(tmp_path / "p.png"), 37, 2500, (picture[start:start + 700] for start in range(0, 2500, 700)))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "p.png")), picture)
    with pytest.raises(ValueError, match="2499 rows given for a picture 2500 tall"):
        compare.write_png(str(tmp_path / "q.png"), 37, 2500, [picture[1:]])
    assert not (tmp_path / "q.png").exists()  # atomic: nothing left of a failed write


class _Negative:
    """A stand-in Cartoonizer: the negative of the photo, for any look."""

    def with_look(self, **look):
        return lambda photo: 255 - photo


def test_a_jpeg_page_is_encoded_in_strips_as_the_whole_picture(tmp_path, monkeypatch):
    """A JPEG page was pasted whole into one picture for the encoder (Pillow: 4 bytes a pixel,
    64 MB for a page of 16 M pixels), the last allocation of a compare run and its peak. Now
    strips of at most 1,024 rows are encoded and joined: the file is byte for byte Pillow's
    encoding of the whole picture (restart markers after every row of MCUs), from blocks of
    any height, past eight restart markers (RST0..RST7 wrap) and an height that is no
    multiple of 16; without restart markers (an older Pillow) the whole page is encoded."""
    import io

    rng = np.random.default_rng(5)
    picture = rng.integers(0, 256, (2500, 120, 3), dtype=np.uint8)
    picture[:, :60] = smooth_photo(2500, 60, seed=2)  # flat parts and noise: all kinds of codes
    whole = io.BytesIO()
    Image.fromarray(picture).save(whole, format="JPEG", quality=95, restart_marker_rows=1)
    assert compare._jpeg_restarts_written()
    encoded = []
    real = compare._encode_jpeg
    monkeypatch.setattr(compare, "_encode_jpeg", lambda rgb, quality: encoded.append(len(rgb)) or real(rgb, quality))
    heights = [16, 700, 37, 1500, 247]
    blocks = (picture[sum(heights[:i]):sum(heights[:i + 1])] for i in range(len(heights)))
    compare.write_page(str(tmp_path / "p.jpg"), 120, 2500, blocks)
    assert (tmp_path / "p.jpg").read_bytes() == whole.getvalue()
    assert encoded == [1024, 1024, 452]
    monkeypatch.setattr(compare, "_jpeg_restarts_written", lambda: False)
    compare.write_page(str(tmp_path / "q.jpg"), 120, 2500, iter([picture]))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "q.jpg")), np.asarray(Image.open(whole)))
    with pytest.raises(ValueError, match="2400 rows given for a picture 2500 tall"):
        compare.write_page(str(tmp_path / "r.jpg"), 120, 2500, iter([picture[:2400]]))
    assert not (tmp_path / "r.jpg").exists()


def test_memory_holds_one_photo_at_a_time(tmp_path, monkeypatch):
    """Was: every photo and result was held until the end (900 photos at 128 px peaked at 2.63
    GB). Now a band at a time goes to disk: 200 photos of 256 x 256 with two looks (the old
    code would hold 118 MB of photos and results) peak at the allocations of one photo, as 20
    photos do, and the sheet streamed back holds every band."""
    monkeypatch.setattr(compare, "colour_shift", lambda photo, result: 0.0)  # its Lab arrays: 20 MB, 0.1 s
    photo = smooth_photo(256, 256, seed=1)
    peaks = []
    for count in (20, 200):
        tracemalloc.start()
        comparison = compare.Comparison({"neg": _Negative()}, [LookOptions(), LookOptions(strength=0.5)], cell=64)
        with compare.SheetWriter([str(tmp_path / f"{count}.png")], comparison.labels, cell=64) as sheet:
            for _ in range(count):
                sheet.add(comparison.add(photo))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 4e6 and peaks[1] < 1.2 * peaks[0], peaks  # measured: 2.84 MB both
    sheet = np.asarray(Image.open(tmp_path / "200.png"))
    assert sheet.shape == (16 + 200 * 64, 3 * 64, 3)
    np.testing.assert_array_equal(sheet[-64:], compare.band([photo, 255 - photo, 255 - photo], cell=64))
