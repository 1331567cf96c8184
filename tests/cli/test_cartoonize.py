import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cartoongan.cli.cartoonize import main
from cartoongan.jobs import STYLE_FOLDER_MARKER
from tests.conftest import PROJECT_ROOT, psnr, shared_path


@pytest.fixture
def photo_tree(tmp_path):
    """A mixed folder: nested photos, RGBA, greyscale, a corrupt file and a non-image."""
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    (root / "trip" / "day2").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (30, 41, 3), dtype=np.uint8)).save(root / "a.jpg")
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / "trip" / "b.png")
    rgba = rng.integers(0, 256, (20, 18, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(root / "trip" / "day2" / "c.png")
    Image.fromarray(rng.integers(0, 256, (21, 13), dtype=np.uint8)).save(root / "trip" / "grey.jpg")
    (root / "trip" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "notes.txt").write_text("not an image")
    return root


def test_mixed_folder_reports_corrupt_file_and_writes_the_rest(photo_tree, tmp_path, tiny_preset, capsys):
    out = tmp_path / "out"
    code = main(["--input", str(photo_tree), "--output", str(out), "--style", str(tiny_preset)])
    assert code == 1
    assert "corrupt.jpg" in capsys.readouterr().err
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == [f"tiny/{STYLE_FOLDER_MARKER}", "tiny/a.jpg", "tiny/trip/b.png", "tiny/trip/day2/c.png",
                       "tiny/trip/grey.jpg"]
    assert Image.open(out / "tiny" / "a.jpg").size == (41, 30)
    rgba = Image.open(out / "tiny" / "trip" / "day2" / "c.png")
    assert rgba.mode == "RGBA" and rgba.size == (18, 20)  # transparency kept
    assert Image.open(out / "tiny" / "trip" / "grey.jpg").mode == "RGB"


def test_a_jpeg_that_decodes_with_a_libjpeg_warning_is_skipped_by_name(tmp_path, tiny_preset, capsys):
    """A valid 80x64 JPEG whose header claims 400x400 decodes as 96% grey rows: it is a
    corrupt file, named, skipped, exit status 1, the rest written."""
    from tests.test_image_decoding import _claiming, _jpeg_bytes

    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    (photos / "claims-400x400.jpg").write_bytes(_claiming(_jpeg_bytes(80, 64), 400, 400))
    (photos / "fine.jpg").write_bytes(_jpeg_bytes(80, 64))
    assert main(["--input", str(photos), "--output", str(out), "--style", str(tiny_preset)]) == 1
    err = capsys.readouterr().err
    assert (f"error: {photos / 'claims-400x400.jpg'}: corrupt or truncated JPEG (Corrupt JPEG data: premature end "
            "of data segment); skipped") in err
    assert "wrote 1, skipped 0 existing (use --overwrite to redo), failed 1" in err
    assert sorted(p.name for p in (out / "tiny").iterdir()) == [STYLE_FOLDER_MARKER, "fine.jpg"]


def test_rerun_skips_existing_outputs_unless_overwrite(photo_tree, tmp_path, tiny_preset, capsys):
    (photo_tree / "trip" / "corrupt.jpg").unlink()
    out = tmp_path / "out"
    args = ["--input", str(photo_tree), "--output", str(out), "--style", str(tiny_preset)]
    assert main(args) == 0
    target = out / "tiny" / "a.jpg"
    os.utime(target, (0, 0))
    assert main(args) == 0
    assert "skipped 4 existing" in capsys.readouterr().err
    assert os.path.getmtime(target) == 0
    assert main(args + ["--overwrite"]) == 0
    assert os.path.getmtime(target) > 0


@pytest.mark.slow
def test_a_rerun_with_every_output_present_never_imports_tensorflow(photo_tree, tmp_path, tiny_preset):
    """Planning comes first; TensorFlow (seconds to import) only loads when there is work."""
    (photo_tree / "trip" / "corrupt.jpg").unlink()
    args = ["--input", str(photo_tree), "--output", str(tmp_path / "out"), "--style", str(tiny_preset)]
    assert main(args) == 0
    check = ("import sys; from cartoongan.cli.cartoonize import main; code = main(sys.argv[1:]); "
             "print(code, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", check, *args], capture_output=True, text=True, timeout=120,
                            cwd=PROJECT_ROOT)
    assert result.stdout.split() == ["0", "False", "False"], result.stderr
    assert "wrote 0, skipped 4 existing" in result.stderr


def test_format_png_and_max_size(photo_tree, tmp_path, tiny_preset):
    out = tmp_path / "out"
    main(["--input", str(photo_tree / "a.jpg"), "--output", str(out), "--style", str(tiny_preset),
          "--format", "png", "--max-size", "20"])
    assert Image.open(out / "tiny" / "a.png").size == (20, 15)


def test_glob_input(photo_tree, tmp_path, tiny_preset):
    out = tmp_path / "out"
    assert main(["--input", str(photo_tree / "trip" / "*.png"), "--output", str(out), "--style", str(tiny_preset)]) == 0
    assert sorted(p.name for p in (out / "tiny").iterdir()) == [STYLE_FOLDER_MARKER, "b.png"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--style", "no-such-style"], "unknown style"),
        (["--max-size", "-1"], "--max-size"),
        (["--format", "gif"], "invalid choice"),
        (["--precision", "int4"], "invalid choice"),
    ],
)
def test_wrong_flags_fail_before_any_work(photo_tree, tmp_path, extra, message, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["--input", str(photo_tree), "--output", str(out)] + extra)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_input_fails_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--input", str(tmp_path / "nope"), "--output", str(tmp_path / "out")])
    assert "nope" in capsys.readouterr().err


def test_never_overwrites_an_input(tmp_path, tiny_preset, capsys):
    folder = tmp_path / "tiny"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "x.png")
    before = (folder / "x.png").read_bytes()
    with pytest.raises(SystemExit):
        main(["--input", str(folder), "--output", str(tmp_path), "--style", str(tiny_preset), "--overwrite"])
    assert "overwrite the input" in capsys.readouterr().err
    assert (folder / "x.png").read_bytes() == before


@pytest.mark.slow
def test_script_with_hayao_matches_published_outputs(hayao_preset, tmp_path):
    """The real entry point, in a subprocess, on photos resized to the published 300x300."""
    photos = sorted(shared_path("data", "eval", "animegan_comparison", "photos").glob("*.jpg"))[:3]
    published = shared_path("data", "eval", "animegan_comparison", "cartoongan_hayao_outputs")
    inputs = tmp_path / "in"
    inputs.mkdir()
    for photo in photos:
        Image.open(photo).convert("RGB").resize((300, 300), Image.Resampling.BICUBIC).save(inputs / (photo.stem + ".png"))
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "tools" / "cartoonize.py"), "--input", str(inputs),
         "--output", str(tmp_path / "out"), "--style", "hayao", "--precision", "float32"],
        capture_output=True, text=True, env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr
    for photo in photos:
        (reference,) = published.glob(photo.stem + "_*.jpg")
        output = Image.open(tmp_path / "out" / "hayao" / (photo.stem + ".png"))
        assert psnr(np.asarray(output), np.asarray(Image.open(reference).convert("RGB"))) >= 24.0


def test_default_style_is_shipped_and_needs_no_network(photo_tree, tmp_path, monkeypatch, capsys):
    """No cache and no reachable source: the default whitebox comes from pretrained/."""
    monkeypatch.setenv("CARTOONGAN_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("CARTOONGAN_WEIGHTS_URL", "http://127.0.0.1:9/unreachable")
    (photo_tree / "trip" / "corrupt.jpg").unlink()
    assert main(["--input", str(photo_tree / "a.jpg"), "--output", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "whitebox" / "a.jpg").is_file()
    assert "warning" not in capsys.readouterr().err
    assert not (tmp_path / "empty-cache").exists()


def test_style_that_cannot_be_fetched_fails_before_any_work(photo_tree, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CARTOONGAN_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("CARTOONGAN_WEIGHTS_URL", "http://127.0.0.1:9/unreachable")
    code = main(["--input", str(photo_tree), "--output", str(tmp_path / "out"), "--style", "hayao_lite", "shinkai"])
    assert code == 2
    err = capsys.readouterr().err
    assert "'shinkai'" in err and "127.0.0.1:9" in err and str(tmp_path / "empty-cache") in err
    assert "corrupt.jpg" not in err  # no photo was touched
    assert not (tmp_path / "out").exists()


def test_output_inside_the_input_folder_is_not_read_back(photo_tree, tiny_preset, capsys):
    (photo_tree / "trip" / "corrupt.jpg").unlink()
    args = ["--input", str(photo_tree), "--output", str(photo_tree / "cartoonized"), "--style", str(tiny_preset)]
    assert main(args) == 0
    assert main(args) == 0  # the second run sees the same 4 inputs, all done
    assert "skipped 4 existing" in capsys.readouterr().err
    assert not (photo_tree / "cartoonized" / "tiny" / "cartoonized").exists()


def test_trained_presets_write_to_their_own_names(photo_tree, tmp_path):
    import keras

    from cartoongan.families.cartoongan.generator import CartoonGanGenerator
    from cartoongan.presets import Preprocessing, save_preset

    keras.utils.set_random_seed(0)
    for run in ("run_a", "run_b"):
        save_preset(CartoonGanGenerator(filters=4, num_residual_blocks=1), tmp_path / run / "preset",
                    Preprocessing("RGB"), name=run)
    out = tmp_path / "out"
    assert main(["--input", str(photo_tree / "a.jpg"), "--output", str(out), "--style",
                 str(tmp_path / "run_a" / "preset"), str(tmp_path / "run_b" / "preset")]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["run_a", "run_b"]
