"""What an attacker or an unlucky user brings to the CLI: hostile presets, special files,
--output equal to --input, leftovers of killed runs. Nothing escapes --output, nothing hangs,
every refusal names the file."""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from cartoongan.cli.cartoonize import main
from cartoongan.jobs import STYLE_FOLDER_MARKER
from tests.conftest import PROJECT_ROOT


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "in" / "x.png"
    path.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(path)
    return path


def _preset_named(tiny_preset, tmp_path, name):
    preset = tmp_path / "P"
    shutil.copytree(tiny_preset, preset)
    config = json.loads((preset / "config.json").read_text())
    config["name"] = name
    (preset / "config.json").write_text(json.dumps(config))
    return preset


def _files_under(root):
    """Every file below `root` but the markers of the style folders (see jobs.STYLE_FOLDER_MARKER)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != STYLE_FOLDER_MARKER)


@pytest.mark.parametrize("name", ["../../escaped", "..", "/ABSOLUTE/victim", "a/b", "", ".hidden", "x" * 65])
def test_a_preset_name_cannot_lead_outside_the_output(photo, tmp_path, tiny_preset, capsys, name):
    """The output folder is the preset's name: it must not lead outside --output."""
    name = name.replace("/ABSOLUTE", str(tmp_path / "abs"))
    victim = tmp_path / "abs" / "victim"
    victim.parent.mkdir()
    victim.write_text("precious")
    preset = _preset_named(tiny_preset, tmp_path, name)
    before = _files_under(tmp_path)
    code = main(["--input", str(photo), "--output", str(tmp_path / "work" / "safe"), "--style", str(preset),
                 "--overwrite"])
    assert code == 2
    err = capsys.readouterr().err
    assert str(preset / "config.json") in err and "name" in err
    assert len(err.strip().splitlines()) == 1
    assert _files_under(tmp_path) == before
    assert victim.read_text() == "precious"


def test_a_symlink_in_the_output_cannot_redirect_writes(photo, tmp_path, tiny_preset, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "tiny").symlink_to(outside, target_is_directory=True)
    with pytest.raises(SystemExit) as exit_info:
        main(["--input", str(photo), "--output", str(tmp_path / "out"), "--style", str(tiny_preset)])
    assert exit_info.value.code == 2
    assert "outside --output" in capsys.readouterr().err
    assert list(outside.iterdir()) == []


def test_a_preset_without_a_name_is_named_after_its_real_folder(photo, tmp_path, tiny_preset, monkeypatch):
    """`.`, `..` and the like are resolved to the folder's real name, never used as names."""
    from cartoongan.presets import preset_name_from_path

    preset = tmp_path / "runs" / "x"
    shutil.copytree(tiny_preset, preset)
    config = json.loads((preset / "config.json").read_text())
    del config["name"]
    (preset / "config.json").write_text(json.dumps(config))
    monkeypatch.chdir(preset)
    assert main(["--input", str(photo), "--output", str(tmp_path / "out"), "--style", "."]) == 0
    assert _files_under(tmp_path / "out") == ["x/x.png"]
    assert preset_name_from_path("..") == "runs"
    assert preset_name_from_path("/") == "preset"
    assert preset_name_from_path(tmp_path / "my run!") == "my_run_"


def test_output_equal_to_input_works_run_after_run(photo, tiny_preset, capsys):
    folder = str(photo.parent)
    for run in range(3):
        assert main(["--input", folder, "--output", folder, "--style", str(tiny_preset)]) == 0
    assert "wrote 0, skipped 1 existing" in capsys.readouterr().err
    assert _files_under(photo.parent) == ["tiny/x.png", "x.png"]
    assert (photo.parent / "tiny" / STYLE_FOLDER_MARKER).is_file()


def test_output_equal_to_input_skips_the_style_folders_of_every_earlier_run(photo, tmp_path, tiny_preset, capsys):
    """A second style must not cartoonize `in/tiny/...` again into `in/other/tiny/...` (skipping
    only the current run's style folders would). Every folder the tool wrote holds a
    marker; a folder of the user's that happens to share a style's name is still an input."""
    folder = photo.parent
    (folder / "hayao").mkdir()
    shutil.copy(photo, folder / "hayao" / "mine.png")  # the user's own photos, not a style folder
    assert main(["--input", str(folder), "--output", str(folder), "--style", str(tiny_preset)]) == 0
    other = _preset_named(tiny_preset, tmp_path, "other")
    assert main(["--input", str(folder), "--output", str(folder), "--style", str(other)]) == 0
    assert _files_under(folder) == ["hayao/mine.png", "other/hayao/mine.png", "other/x.png", "tiny/hayao/mine.png",
                                    "tiny/x.png", "x.png"]
    third = tmp_path / "third"
    shutil.copytree(tiny_preset, third)
    config = json.loads((third / "config.json").read_text())
    config["name"] = "third"
    (third / "config.json").write_text(json.dumps(config))
    assert main(["--input", str(folder / "*"), "--output", str(folder), "--style", str(third)]) == 0  # a glob too
    assert [name for name in _files_under(folder) if name.startswith("third/")] == ["third/mine.png", "third/x.png"]
    assert main(["--input", str(folder / "**" / "*.png"), "--output", str(folder), "--style", str(third)]) == 0
    assert "wrote 0, skipped 2 existing" in capsys.readouterr().err.splitlines()[-1]


def test_a_fifo_with_an_image_name_is_skipped_not_waited_on(photo, tmp_path, tiny_preset, capsys):
    os.mkfifo(photo.parent / "pipe.jpg")
    started = time.monotonic()
    code = main(["--input", str(photo.parent), "--output", str(tmp_path / "out"), "--style", str(tiny_preset)])
    assert code == 1 and time.monotonic() - started < 60
    err = capsys.readouterr().err
    assert "pipe.jpg: not a regular file (a FIFO)" in err
    assert (tmp_path / "out" / "tiny" / "x.png").is_file()


@pytest.mark.parametrize("edit, expected", [
    (lambda c: [1, 2], "expected a JSON object"),
    (lambda c: {k: v for k, v in c.items() if k != "generator"}, "generator: missing"),
    (lambda c: {**c, "generator": {**c["generator"], "config": {"filters": "24"}}}, "generator.config.filters: expected an integer"),
    (lambda c: {**c, "generator": {**c["generator"], "config": {"filters": 4000}}}, "outside the sane range"),
    (lambda c: {**c, "generator": {**c["generator"], "config": {"num_residual_blocks": 10**6}}}, "outside the sane range"),
    (lambda c: {**c, "generator": {**c["generator"], "config": {"dtype": "float16"}}}, "generator.config.dtype: unknown"),
    (lambda c: {**c, "surprise": 1}, "surprise: unknown field"),
    (lambda c: {**c, "preprocessing": {"size_multiple": 0}}, "preprocessing.size_multiple"),
    (lambda c: {**c, "preprocessing": {"channel_order": "RGBA"}}, "preprocessing.channel_order"),
    (lambda c: {**c, "generator": {"class_name": "Evil", "config": {}}}, "generator.class_name"),
])
def test_malformed_presets_exit_2_at_once_with_one_line(photo, tmp_path, tiny_preset, edit, expected):
    """In a subprocess, as a user meets it: status 2 within seconds (no model is built)."""
    preset = tmp_path / "P"
    shutil.copytree(tiny_preset, preset)
    config = json.loads((preset / "config.json").read_text())
    (preset / "config.json").write_text(json.dumps(edit(config)))
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(PROJECT_ROOT / "tools" / "cartoonize.py"), "--input", str(photo),
                             "--output", str(tmp_path / "out"), "--style", str(preset)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert time.monotonic() - started < 10
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(preset / "config.json") in lines[0] and expected in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_invalid_json_names_the_file(photo, tmp_path, tiny_preset, capsys):
    preset = tmp_path / "P"
    shutil.copytree(tiny_preset, preset)
    (preset / "config.json").write_text('{"generator": ')
    assert main(["--input", str(photo), "--output", str(tmp_path / "out"), "--style", str(preset)]) == 2
    assert f"{preset / 'config.json'}: not valid JSON" in capsys.readouterr().err


def test_weights_of_the_wrong_shape_give_one_line_with_the_layer_and_shapes(photo, tmp_path, tiny_preset, capsys):
    preset = tmp_path / "P"
    shutil.copytree(tiny_preset, preset)
    config = json.loads((preset / "config.json").read_text())
    config["generator"]["config"]["filters"] = 5  # the file holds filters=4
    (preset / "config.json").write_text(json.dumps(config))
    assert main(["--input", str(photo), "--output", str(tmp_path / "out"), "--style", str(preset)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and len(err) < 400, err
    assert "stem_conv/kernel should be (7, 7, 3, 5) but the file has (7, 7, 3, 4)" in err
    assert str(preset / "model.weights.h5") in err


def test_a_truncated_weights_file_names_the_file_and_the_cure(photo, tmp_path, tiny_preset, capsys):
    preset = tmp_path / "P"
    shutil.copytree(tiny_preset, preset)
    weights = preset / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:3000])
    assert main(["--input", str(photo), "--output", str(tmp_path / "out"), "--style", str(preset)]) == 2
    err = capsys.readouterr().err
    assert f"{weights}: damaged" in err and "delete" in err


def test_leftovers_of_a_killed_run_are_cleaned_by_the_next(photo, tmp_path, tiny_preset):
    out = tmp_path / "out" / "tiny"
    out.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # that process has exited
    stale = out / f".x.png.partial-{dead_pid}-abc123.png"
    stale.write_bytes(b"half an image")
    live = out / f".y.png.partial-{os.getppid()}-abc123.png"  # a live writer's: left alone
    live.write_bytes(b"being written")
    assert main(["--input", str(photo), "--output", str(tmp_path / "out"), "--style", str(tiny_preset)]) == 0
    assert not stale.exists() and live.exists()


def test_a_full_disk_names_the_output_path(photo, tmp_path, tiny_preset, monkeypatch, capsys):
    import errno

    from PIL import Image as PILImage

    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PILImage.Image, "save", no_space)
    assert main(["--input", str(photo), "--output", str(tmp_path / "out"), "--style", str(tiny_preset)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'out' / 'tiny' / 'x.png'}: cannot write (No space left on device)" in err
    assert _files_under(tmp_path / "out") == []


def test_help_explains_the_environment():
    result = subprocess.run([sys.executable, str(PROJECT_ROOT / "tools" / "cartoonize.py"), "--help"],
                            capture_output=True, text=True, timeout=60)
    for word in ("CARTOONGAN_WEIGHTS_URL", "CARTOONGAN_HOME", "pretrained/", "--verbose"):
        assert word in result.stdout


def test_the_cli_is_quiet_unless_verbose(photo, tmp_path, tiny_preset):
    command = [sys.executable, str(PROJECT_ROOT / "tools" / "cartoonize.py"), "--input", str(photo),
               "--output", str(tmp_path / "out"), "--style", str(tiny_preset)]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert "absl" not in quiet.stderr and "cuda" not in quiet.stderr.lower() and "oneDNN" not in quiet.stderr


def test_a_rerun_with_another_look_redoes_the_outputs_and_the_same_look_skips(photo, tmp_path, tiny_preset, capsys):
    """Was: "wrote 0, skipped 1 existing" for a re-run with --strength 0.5 into the same folder.
    Now each output's look is recorded in the style folder's marker: the same command does
    nothing, another look replaces the output (and says so), --help tells how."""
    from cartoongan import Cartoonizer

    out = tmp_path / "out"
    args = ["--input", str(photo), "--output", str(out), "--style", str(tiny_preset)]
    assert main(args) == 0
    for extra in (["--strength", "0.5"], ["--strength", "0.5", "--keep-colors"], ["--style-size", "16"]):
        assert main(args + extra) == 0
        assert "wrote 1 (1 replacing outputs made with other settings), skipped 0" in capsys.readouterr().err
        assert main(args + extra) == 0
        assert "wrote 0, skipped 1 existing" in capsys.readouterr().err
    expected = Cartoonizer.from_pretrained(str(tiny_preset), style_size=16)(np.asarray(Image.open(photo)))
    np.testing.assert_array_equal(np.asarray(Image.open(out / "tiny" / "x.png")), expected)
    assert _files_under(out) == ["tiny/x.png"]  # replaced in place, no temporaries


def test_earlier_results_below_the_input_are_not_read_when_the_output_moves(photo, tiny_preset, capsys):
    """Was: `--input in --output in`, then `--output in/sub/out` cartoonized `in/tiny/x.png`."""
    folder = photo.parent
    assert main(["--input", str(folder), "--output", str(folder), "--style", str(tiny_preset)]) == 0
    assert main(["--input", str(folder), "--output", str(folder / "sub" / "out"), "--style", str(tiny_preset)]) == 0
    assert _files_under(folder) == ["sub/out/tiny/x.png", "tiny/x.png", "x.png"]
    with pytest.raises(SystemExit):
        main(["--input", str(folder / "tiny"), "--output", str(folder / "again"), "--style", str(tiny_preset)])
    assert f"--input {folder / 'tiny'}: a folder of results this tool wrote" in capsys.readouterr().err


def test_help_says_how_reruns_work(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the same command does only what is missing" in text and "replaces the outputs made otherwise" in text
