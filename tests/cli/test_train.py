"""The trainer's command line end to end: build TFRecords, train, resume, fine-tune."""

import json

import numpy as np
import pytest
from PIL import Image

from cartoongan import Cartoonizer
from cartoongan.cli.build_tfrecords import main as build_main
from cartoongan.cli.train import FINE_TUNE_GENERATOR_LR, main as train_main

TINY = ["--generator-config", '{"filters": 4, "num_residual_blocks": 1}', "--batch-size", "2",
        "--image-size", "32", "--vgg-weights", "random"]


@pytest.fixture(scope="module")
def tfrecords(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_cli")
    rng = np.random.default_rng(0)
    for family in ("photos", "anime"):
        (root / family).mkdir()
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(root / family / f"{i}.png")
    assert build_main(["--photos", str(root / "photos"), "--anime", str(root / "anime"), "--output",
                       str(root / "records"), "--image-size", "40", "--workers", "1"]) == 0
    return root / "records"


def _steps(workdir):
    return [json.loads(line)["step"] for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_train_then_extend_runs_every_step_once(tfrecords, tmp_path):
    workdir = tmp_path / "run"
    common = ["--data", str(tfrecords), "--workdir", str(workdir), "--init-steps", "2", *TINY]
    assert train_main(common + ["--steps", "4"]) == 0
    assert train_main(common + ["--steps", "6"]) == 0
    assert _steps(workdir) == [1, 2, 3, 4, 5, 6]
    config = json.loads((workdir / "config.json").read_text())
    assert config["steps"] == 6 and config["generator"] == "full"
    image = np.random.default_rng(1).integers(0, 256, (37, 29, 3), dtype=np.uint8)
    output = Cartoonizer.from_pretrained(str(workdir / "preset"))(image)
    assert output.dtype == np.uint8 and output.shape == image.shape


def test_wrong_flags_fail_before_any_work(tfrecords, tmp_path, capsys):
    for extra, message in [
        (["--steps", "-1"], "--steps"),
        (["--image-size", "30"], "--image-size"),
        (["--vgg-weights", str(tmp_path / "missing.h5")], "--vgg-weights"),
        (["--init-from", "nonexistent-style"], "unknown style"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            train_main(["--data", str(tfrecords), "--workdir", str(tmp_path / "w")] + TINY + extra)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_resuming_with_another_architecture_is_refused(tfrecords, tmp_path, capsys):
    workdir = tmp_path / "run"
    assert train_main(["--data", str(tfrecords), "--workdir", str(workdir), "--steps", "1", "--init-steps", "1", *TINY]) == 0
    with pytest.raises(SystemExit):
        train_main(["--data", str(tfrecords), "--workdir", str(workdir), "--steps", "2", "--generator", "light",
                    "--batch-size", "2", "--image-size", "32", "--vgg-weights", "random"])
    assert "use another --workdir" in capsys.readouterr().err


def test_fine_tuning_defaults_to_a_gentle_generator_rate(tfrecords, tmp_path, tiny_preset, capsys):
    args = ["--data", str(tfrecords), "--workdir", str(tmp_path / "ft"), "--init-from", str(tiny_preset), "--dry-run"]
    assert train_main(args + ["--vgg-weights", "random"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["generator_lr"] == FINE_TUNE_GENERATOR_LR and config["init_from"] == str(tiny_preset)
