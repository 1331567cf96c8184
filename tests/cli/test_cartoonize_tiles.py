"""The CLI's full-resolution flags: --tile-size, --memory-budget, --pixel-limit."""

import numpy as np
import pytest
from PIL import Image

from cartoongan.cli.cartoonize import build_parser, main


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
