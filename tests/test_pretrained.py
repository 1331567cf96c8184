"""The models shipped in pretrained/: they load offline and do what their model card says."""

import os

import numpy as np
from PIL import Image

from cartoongan import Cartoonizer
from cartoongan.presets import PRETRAINED_DIR, embedded_presets
from tests.conftest import psnr, shared_path


def test_embedded_default_is_shipped_small_and_loads_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("CARTOONGAN_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("CARTOONGAN_WEIGHTS_URL", "http://127.0.0.1:9/unreachable")
    assert "hayao_lite" in embedded_presets()
    size = sum(f.stat().st_size for f in (PRETRAINED_DIR / "hayao_lite").iterdir())
    assert size <= 8 * 1024 * 1024
    image = np.random.default_rng(0).integers(0, 256, (45, 67, 3), dtype=np.uint8)
    output = Cartoonizer.from_pretrained("hayao_lite")(image)
    assert output.dtype == np.uint8 and output.shape == image.shape
    assert not os.path.exists(tmp_path / "empty")  # nothing was fetched


def test_hayao_lite_stays_close_to_its_teacher(hayao_preset):
    """The model card's fidelity, on held-out photos never trained on (22.97 dB on all 22)."""
    photos = sorted(shared_path("data", "eval", "animegan_comparison", "photos").glob("*.jpg"))[:6]
    student = Cartoonizer.from_pretrained("hayao_lite")
    teacher = Cartoonizer.from_pretrained("hayao", precision="float32")
    scores = []
    for photo in photos:
        image = np.asarray(Image.open(photo).convert("RGB"))
        scores.append(psnr(student(image), teacher(image)))
    assert np.mean(scores) >= 22.5, scores  # 23.03 measured
