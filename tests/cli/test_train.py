"""The trainer's command line end to end: build TFRecords, train, resume, fine-tune."""

import json

import numpy as np
import pytest
from PIL import Image

from cartoongan import Cartoonizer
from cartoongan.cli.build_tfrecords import main as build_main
from cartoongan.cli.train import main as train_main
from cartoongan.training.config import FINE_TUNE_GENERATOR_LR

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
    steps = _steps(workdir)  # a line for step 0 holds the start's scores, once, where the trainer writes them
    assert steps in ([1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5, 6]), steps
    config = json.loads((workdir / "config.json").read_text())
    assert config["steps"] == 6 and config["generator"] == "cartoongan"
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


def _exit_code(argv):
    with pytest.raises(SystemExit) as exit_info:
        train_main(argv)
    return exit_info.value.code


def test_missing_or_empty_data_fails_before_any_model_and_leaves_no_workdir(tmp_path, capsys, monkeypatch):
    import cartoongan.training.trainer as trainer_module

    def no_models(*args, **kwargs):
        raise AssertionError("a Trainer was built")

    monkeypatch.setattr(trainer_module, "Trainer", no_models)
    (tmp_path / "empty").mkdir()
    for data, message in [(tmp_path / "missing", "no such folder"), (tmp_path / "empty", "no photo-")]:
        assert _exit_code(["--data", str(data), "--workdir", str(tmp_path / "w"), *TINY]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("value, reason", [
    ("{bad", "not valid JSON"),
    ("[4]", "expected a JSON object"),
    ('{"filter": 4}', "unknown parameter 'filter'"),
    ('{"filters": "24"}', "filters must be an integer"),
    ('{"filters": 4.5}', "filters must be an integer"),
    ('{"filters": 4000}', "outside"),
    ('{"filters": NaN}', "not valid JSON"),
])
def test_bad_generator_config_exits_2_with_the_reason(tfrecords, tmp_path, capsys, value, reason):
    argv = ["--data", str(tfrecords), "--workdir", str(tmp_path / "w"), "--batch-size", "2", "--image-size", "32",
            "--vgg-weights", "random", "--generator-config", value]
    assert _exit_code(argv) == 2
    assert reason in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("flag", ["--content-weight", "--generator-lr", "--discriminator-lr"])
def test_nan_or_inf_options_are_refused_and_never_written(tfrecords, tmp_path, capsys, flag):
    for value in ("nan", "inf"):
        assert _exit_code(["--data", str(tfrecords), "--workdir", str(tmp_path / "w"), *TINY, flag, value]) == 2
        assert "finite" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_steps_0_does_not_claim_a_preset(tfrecords, tmp_path, capsys):
    workdir = tmp_path / "w"
    assert train_main(["--data", str(tfrecords), "--workdir", str(workdir), "--steps", "0", *TINY]) == 0
    err = capsys.readouterr().err
    assert "no preset written" in err and "preset: " not in err
    assert not (workdir / "preset").exists()


def test_a_corrupt_shard_is_named_and_exits_1(tfrecords, tmp_path, capsys):
    import shutil

    data = tmp_path / "records"
    shutil.copytree(tfrecords, data)
    shards = sorted(data.glob("photo-*.tfrecord"))
    for shard in shards:  # every photo shard: the first batch reads whichever comes first
        raw = bytearray(shard.read_bytes())
        raw[len(raw) // 2:len(raw) // 2 + 16] = b"\xff" * 16
        shard.write_bytes(bytes(raw))
    assert train_main(["--data", str(data), "--workdir", str(tmp_path / "w"), "--steps", "1", *TINY]) == 1
    err = capsys.readouterr().err
    assert "corrupt" in err and shards[0].name in err
    # The run created the workdir and saved nothing in it: nothing is left behind.
    assert not (tmp_path / "w").exists() and "was removed" in err
    # A workdir that was there before is the user's: kept, with what was in it.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert train_main(["--data", str(data), "--workdir", str(tmp_path / "mine"), "--steps", "1", *TINY]) == 1
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_a_workdir_that_is_a_file_exits_2_before_the_models_are_built(tfrecords, tmp_path, capsys):
    (tmp_path / "w").write_text("not a folder")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoints").write_text("not a folder either")
    for workdir, message in [(tmp_path / "w", "is a file, not a folder"),
                             (tmp_path / "run", "checkpoints is a file, where a run writes its checkpoints folder")]:
        with pytest.raises(SystemExit) as exit_info:
            train_main(["--data", str(tfrecords), "--workdir", str(workdir), "--steps", "1", *TINY])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert f"--workdir {workdir}" in err and message in err and "building the models" not in err


def test_vgg_weights_file_that_is_not_vgg19_is_refused(tfrecords, tmp_path, capsys):
    import h5py

    path = tmp_path / "not_vgg.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("dense/kernel", shape=(10, 10), dtype="float32")
    args = ["--data", str(tfrecords), "--workdir", str(tmp_path / "w"), "--steps", "1", "--batch-size", "2",
            "--image-size", "32", "--generator-config", '{"filters": 4, "num_residual_blocks": 1}']
    assert _exit_code(args + ["--vgg-weights", str(path)]) == 2
    assert "not VGG19 weights: no block1_conv1 kernel of shape (3, 3, 3, 64)" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_help_shows_every_default_and_the_cost_of_a_step(capsys):
    with pytest.raises(SystemExit):
        train_main(["--help"])
    out = capsys.readouterr().out
    assert "about 70 s on a 2-core CPU" in out and "GPU" in out
    # every option with a value says its default (the epilog, after the last one, is cut off)
    blocks = out.split("\n\n")[2].split("\n  --")
    names = [block.split()[0] for block in blocks[1:]]
    assert "palette-weight" in names and "warmup-steps" in names  # TrainConfig's newest fields
    for block in blocks[1:]:
        name = block.split()[0]
        if name in ("help", "dry-run", "verbose", "data", "workdir"):  # switches, and the required two
            continue
        assert "(default:" in block, name


def test_a_bad_flag_is_reported_without_tensorflows_start_up_chatter(tmp_path):
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    result = subprocess.run([sys.executable, "-m", "cartoongan.cli.train", "--data", str(tmp_path / "missing"),
                             "--workdir", str(tmp_path / "w")], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("usage:"), result.stderr[:500]
    assert "no such folder" in result.stderr.splitlines()[-1]


def test_a_workdir_that_is_a_file_is_refused_before_tensorflow_is_imported(tmp_path):
    """Said at once: the check needs no TensorFlow (which takes seconds to import)."""
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    (tmp_path / "w").write_text("a file")
    code = ("import sys; from cartoongan.cli.train import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as exit_:\n"
            "    print('tensorflow' in sys.modules, exit_.code)")
    result = subprocess.run([sys.executable, "-c", code, "--data", str(tmp_path), "--workdir", str(tmp_path / "w")],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["False", "2"], result.stderr[-500:]
    assert f"--workdir {tmp_path / 'w'} is a file, not a folder" in result.stderr
