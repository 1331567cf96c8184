"""The models shipped in pretrained/: they load offline and do what their model card says."""

import os

import numpy as np
import pytest
from PIL import Image

from cartoongan import Cartoonizer
from cartoongan.presets import PRETRAINED_DIR, embedded_presets
from tests.conftest import psnr, shared_path


@pytest.mark.parametrize("name, max_mb", [("hayao", 24), ("hayao_lite", 8)])
def test_embedded_presets_are_shipped_small_and_load_offline(monkeypatch, tmp_path, name, max_mb):
    monkeypatch.setenv("CARTOONGAN_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("CARTOONGAN_WEIGHTS_URL", "http://127.0.0.1:9/unreachable")
    assert name in embedded_presets()
    size = sum(f.stat().st_size for f in (PRETRAINED_DIR / name).iterdir())
    assert size <= max_mb * 1024 * 1024
    image = np.random.default_rng(0).integers(0, 256, (45, 67, 3), dtype=np.uint8)
    output = Cartoonizer.from_pretrained(name)(image)
    assert output.dtype == np.uint8 and output.shape == image.shape
    assert not os.path.exists(tmp_path / "empty")  # nothing was fetched


def test_the_default_style_is_the_shipped_hayao(monkeypatch, tmp_path):
    from cartoongan.presets import DEFAULT_STYLE, resolve_preset

    monkeypatch.setenv("CARTOONGAN_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("CARTOONGAN_WEIGHTS_URL", "http://127.0.0.1:9/unreachable")
    assert DEFAULT_STYLE == "hayao"
    assert resolve_preset(None) == resolve_preset("hayao") == PRETRAINED_DIR / "hayao"


def test_shipped_hayao_matches_the_float32_upstream_conversion(hayao_preset, monkeypatch, tmp_path):
    """The model card's figures: float16 storage costs nothing visible (65.8 dB measured in
    float32 arithmetic, 55.3 dB at the default auto precision), offline with an empty cache."""
    reference = Cartoonizer.from_pretrained(hayao_preset, precision="float32")
    monkeypatch.setenv("CARTOONGAN_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("CARTOONGAN_WEIGHTS_URL", "http://127.0.0.1:9/unreachable")
    shipped = Cartoonizer.from_pretrained("hayao", precision="float32")
    default = Cartoonizer.from_pretrained(None)  # auto precision, as the CLI runs it
    photos = sorted(shared_path("data", "eval", "animegan_comparison", "photos").glob("*.jpg"))[:2]
    for photo in photos:
        image = np.asarray(Image.open(photo).convert("RGB"))
        expected = reference(image)
        assert psnr(shipped(image), expected) >= 60.0, photo
        assert psnr(default(image), expected) >= 50.0, photo


def test_shipped_hayao_reproduces_the_golden_tensors():
    """Against an independent implementation's raw outputs (float16 weights: 0.0037 max measured)."""
    from cartoongan import load_generator

    golden = np.load(shared_path("golden", "cartoongan_hayao.npz"))
    generator = load_generator(PRETRAINED_DIR / "hayao")
    for k in range(4):
        output = generator.predict(golden[f"hayao/input_{k}"], verbose=0)
        assert np.abs(output - golden[f"hayao/output_{k}"]).max() <= 0.01, k


def test_hayao_lite_stays_close_to_its_teacher(hayao_preset):
    """The model card's fidelity, on held-out photos never trained on (22.97 dB on all 22)."""
    photos = sorted(shared_path("data", "eval", "animegan_comparison", "photos").glob("*.jpg"))[:6]
    student = Cartoonizer.from_pretrained("hayao_lite")
    teacher = Cartoonizer.from_pretrained(hayao_preset, precision="float32")
    scores = []
    for photo in photos:
        image = np.asarray(Image.open(photo).convert("RGB"))
        scores.append(psnr(student(image), teacher(image)))
    assert np.mean(scores) >= 22.5, scores  # 23.03 measured


def test_shipped_hayao_is_reproduced_byte_for_byte_by_its_model_card_command(tmp_path):
    """As a command, in a fresh process: Keras numbers layers per process, and the numbers
    are part of the weights file's layout."""
    import subprocess
    import sys

    source = shared_path("weights", "cartoongan")
    result = subprocess.run([sys.executable, str(PRETRAINED_DIR.parent / "tools" / "convert_style.py"),
                             "--style", "hayao", "--weights-dtype", "float16", "--source", str(source),
                             "--output", str(tmp_path / "hayao")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for name in ("config.json", "model.weights.h5"):
        assert (tmp_path / "hayao" / name).read_bytes() == (PRETRAINED_DIR / "hayao" / name).read_bytes(), name
