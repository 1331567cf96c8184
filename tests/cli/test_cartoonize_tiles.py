"""The CLI's full-resolution flags: --tile-size, --memory-budget, --pixel-limit; progress
inside an image that runs in tiles."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cartoongan.cli.cartoonize import build_parser, main
from tests.conftest import PROJECT_ROOT


@pytest.fixture
def photo(tmp_path):
    y, x = np.mgrid[0:90, 0:130]
    rgb = np.stack([x * 255 // 130, y * 255 // 90, (x * y) % 256], -1).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    return path


def _run(photo, out, preset, *flags):
    assert main(["--input", str(photo), "--output", str(out), "--style", str(preset), "--max-size", "0",
                 "--precision", "float32", *flags]) == 0
    return np.asarray(Image.open(out / "tiny" / photo.name))


def test_tiles_give_the_whole_image_result(photo, tmp_path, tiny_preset):
    whole = _run(photo, tmp_path / "whole", tiny_preset, "--tile-size", "0")
    tiled = _run(photo, tmp_path / "tiled", tiny_preset, "--tile-size", "32")
    auto = _run(photo, tmp_path / "auto", tiny_preset, "--memory-budget", "1M")  # tiles: over the budget
    assert whole.shape == (90, 130, 3)
    assert np.abs(whole.astype(int) - tiled).max() <= 1
    assert np.abs(whole.astype(int) - auto).max() <= 1


def test_flags_are_parsed():
    parse = build_parser().parse_args
    assert parse([]).tile_size == "auto" and parse([]).memory_budget == 1 << 30
    assert parse(["--tile-size", "512", "--memory-budget", "1.5G"]).tile_size == 512
    assert parse(["--memory-budget", "800MiB"]).memory_budget == 800 << 20
    assert parse(["--tile-size", "0", "--memory-budget", "4096"]).memory_budget == 4096


@pytest.mark.parametrize("flags", [["--tile-size", "big"], ["--tile-size", "8"], ["--memory-budget", "lots"],
                                   ["--memory-budget", "0"]])
def test_bad_values_are_usage_errors(flags, capsys):
    with pytest.raises(SystemExit) as exit:
        build_parser().parse_args(flags)
    assert exit.value.code == 2


def test_pixel_limit_names_the_file_and_goes_on(photo, tmp_path, tiny_preset, capsys):
    out = tmp_path / "out"
    code = main(["--input", str(photo), "--output", str(out), "--style", str(tiny_preset), "--pixel-limit", "0.01"])
    assert code == 1
    assert "photo.png: 130x90 is 0.0117 megapixels, over the pixel limit of 0.01 megapixels" in capsys.readouterr().err


def test_an_image_in_tiles_reports_every_tile_of_every_pass(photo, tiny_preset):
    """The callback the CLI's bar (and the web page's "pass k of n") follow: `progress(done,
    total, pass_number, passes)` after every tile; never for a whole image."""
    from cartoongan.inference import Cartoonizer

    rgb = np.asarray(Image.open(photo))
    tiled = Cartoonizer.from_pretrained(str(tiny_preset), precision="float32", tile_size=32)
    calls = []
    result = tiled(rgb, progress=lambda *call: calls.append(call))
    total, passes = calls[0][1], calls[0][3]
    assert passes > 1 and total > passes  # several passes (one per norm and the output), several tiles each
    assert [call[0] for call in calls] == list(range(1, total + 1))
    assert {call[1] for call in calls} == {total} and {call[3] for call in calls} == {passes}
    pass_numbers = [call[2] for call in calls]
    assert pass_numbers == sorted(pass_numbers) and set(pass_numbers) == set(range(1, passes + 1))
    np.testing.assert_array_equal(result, tiled(rgb))  # the same image with or without a callback
    whole = Cartoonizer.from_pretrained(str(tiny_preset), precision="float32", tile_size=0)
    calls.clear()
    whole(rgb, progress=lambda *call: calls.append(call))
    assert calls == []


def test_the_cli_shows_the_pass_and_the_tiles_of_a_tiled_image(photo, tmp_path, tiny_preset, capsys):
    _run(photo, tmp_path / "tiled", tiny_preset, "--tile-size", "32")
    err = capsys.readouterr().err
    assert "photo.png pass 1/" in err and ("tile/s" in err or "s/tile" in err)


@pytest.mark.slow
def test_a_tiny_memory_budget_prints_no_tensorflow_retracing_warning(photo, tmp_path, tiny_preset):
    """Each pass of the tiler is its own traced function, traced once; TensorFlow took the
    passes for one function retraced ("6 out of the last 6 calls ... triggered tf.function
    retracing") and printed that without --verbose."""
    result = subprocess.run([sys.executable, str(PROJECT_ROOT / "tools" / "cartoonize.py"), "--input", str(photo),
                             "--output", str(tmp_path / "out"), "--style", str(tiny_preset), "--memory-budget", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "retracing" not in result.stderr and "WARNING" not in result.stderr, result.stderr
