import os
import shutil

import pytest

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
