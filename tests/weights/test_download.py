import os
import re
import shutil

import pytest
from PIL import Image

from cartoongan.families import STYLE_TABLE
from cartoongan.presets import cached_preset_dir, fetch_style, is_preset_dir
from cartoongan.weights.download import DownloadError, fetch_verified
from tests.conftest import shared_path

SHA_OF_HELLO = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def test_fetch_verified_from_directory_file_url_and_http(tmp_path, http_server):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.bin").write_bytes(b"hello")
    for i, location in enumerate(
        [str(tmp_path / "src" / "a.bin"), (tmp_path / "src" / "a.bin").as_uri(), http_server(tmp_path / "src") + "/a.bin"]
    ):
        fetch_verified(location, tmp_path / f"out{i}", SHA_OF_HELLO)
        assert (tmp_path / f"out{i}").read_bytes() == b"hello"


def test_checksum_mismatch_names_the_file_and_leaves_nothing(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"hellO")
    with pytest.raises(DownloadError, match="a.bin.*checksum mismatch|checksum mismatch.*a.bin"):
        fetch_verified(str(tmp_path / "a.bin"), tmp_path / "out" / "a.bin", SHA_OF_HELLO)
    assert os.listdir(tmp_path / "out") == []


def test_unreachable_source_is_a_clear_error(tmp_path, http_server):
    base = http_server(tmp_path)
    with pytest.raises(DownloadError, match="missing.bin"):
        fetch_verified(base + "/missing.bin", tmp_path / "x", SHA_OF_HELLO)
    with pytest.raises(DownloadError, match="127.0.0.1:9"):
        fetch_verified("http://127.0.0.1:9/a.bin", tmp_path / "x", SHA_OF_HELLO)


@pytest.mark.parametrize("damage", ["truncate", "corrupt", "delete"])
def test_damaged_upstream_copy_fails_and_leaves_cache_clean(tmp_path, http_server, monkeypatch, damage):
    source = tmp_path / "mirror"
    shutil.copytree(shared_path("weights", "cartoongan", "hayao"), source / "hayao")
    victim = source / "hayao" / "conv05_1.weight.npy"
    if damage == "truncate":
        victim.write_bytes(victim.read_bytes()[:1000])
    elif damage == "corrupt":
        data = bytearray(victim.read_bytes())
        data[-1] ^= 0xFF
        victim.write_bytes(bytes(data))
    else:
        victim.unlink()
    home = tmp_path / "home"
    monkeypatch.setenv("CARTOONGAN_HOME", str(home))
    monkeypatch.setenv("CARTOONGAN_WEIGHTS_URL", http_server(source))
    with pytest.raises(DownloadError, match="conv05_1.weight.npy"):
        fetch_style("hayao")
    leftovers = [os.path.join(root, f) for root, _, files in os.walk(home) for f in files] if home.exists() else []
    assert leftovers == []
    assert not is_preset_dir(cached_preset_dir("hayao"))


def test_every_style_downloads_from_a_pinned_commit():
    """A branch (`master`) can change under the sha256 we ship; a commit cannot."""
    for row in STYLE_TABLE.values():
        assert re.search(r"/[0-9a-f]{40}/", row.source_url) and "/master/" not in row.source_url, row.name
    assert "CartoonGan-tensorflow/114f5604058860c4748739b1fa7701db1076d1f3/" in STYLE_TABLE["hayao"].source_url


def test_a_failed_fetch_from_a_mirror_names_the_mirror_and_does_not_ask_to_set_it(tmp_path, monkeypatch):
    mirror = tmp_path / "empty-mirror"
    mirror.mkdir()
    monkeypatch.setenv("CARTOONGAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CARTOONGAN_WEIGHTS_URL", str(mirror))
    with pytest.raises(DownloadError) as error:
        fetch_style("animeganv2_hayao")
    assert f"the mirror CARTOONGAN_WEIGHTS_URL={mirror}" in str(error.value)
    assert "set CARTOONGAN_WEIGHTS_URL" not in str(error.value)


# A style that is downloaded (not shipped), of one file.
STYLE = "animeganv2_hayao"


def _cartoonize_style(tmp_path, monkeypatch, mirror, style):
    from cartoongan.cli.cartoonize import main

    photo = tmp_path / "photo.png"
    Image.new("RGB", (16, 12), (90, 140, 200)).save(photo)
    monkeypatch.setenv("CARTOONGAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CARTOONGAN_WEIGHTS_URL", str(mirror))
    return main(["--input", str(photo), "--output", str(tmp_path / "out"), "--style", style])


def test_the_download_bar_ends_at_100_percent_on_its_own_line(tmp_path, monkeypatch, capsys):
    mirror = tmp_path / "mirror"
    shutil.copytree(shared_path("weights", "cartoongan", STYLE), mirror / STYLE)
    assert _cartoonize_style(tmp_path, monkeypatch, mirror, STYLE) == 0
    bar = [line for line in capsys.readouterr().err.split("\n") if f"fetching {STYLE}" in line]
    shown = bar[0].split("\r")[-1]  # what a terminal shows last on that line
    assert len(bar) == 1 and shown.startswith(f"fetching {STYLE}") and "100%" in shown, bar


def test_a_download_error_is_not_printed_on_the_bar_line(tmp_path, monkeypatch, capsys):
    mirror = tmp_path / "mirror"
    (mirror / STYLE).mkdir(parents=True)
    (mirror / STYLE / next(iter(STYLE_TABLE[STYLE].files))).write_bytes(b"not the published file")
    assert _cartoonize_style(tmp_path, monkeypatch, mirror, STYLE) == 2
    lines = capsys.readouterr().err.split("\n")
    error = [line for line in lines if "checksum mismatch" in line]
    assert len(error) == 1 and error[0].startswith("cartoonize: error: "), lines
    assert any(f"fetching {STYLE}" in line for line in lines)
