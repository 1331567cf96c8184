"""The Beam pipeline (cartoongan.beam, cartoongan-cartoonize-beam) against the CLI, on the DirectRunner."""

import json
import os

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("apache_beam")

from cartoongan.cli.cartoonize import main as cartoonize_main  # noqa: E402
from cartoongan.cli.cartoonize_beam import main  # noqa: E402
from tests.conftest import psnr  # noqa: E402

# Two worker processes, as the check runs it; the in-process runner (default) for
# the rest, where TensorFlow is already loaded and a run takes a second or two.
MULTI_PROCESS = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]


@pytest.fixture
def photos(tmp_path):
    """Nested photos of several sizes (two of one size: a batch), RGBA, greyscale, a JPEG, a
    corrupt file and a non-image (left out of folder inputs, as by the CLI)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    (root / "trip" / "day2").mkdir(parents=True)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(root / name)
    Image.fromarray(rng.integers(0, 256, (30, 41, 3), dtype=np.uint8)).save(root / "trip" / "c.jpg")
    Image.fromarray(rng.integers(0, 256, (20, 18, 4), dtype=np.uint8)).save(root / "trip" / "day2" / "d.png")
    Image.fromarray(rng.integers(0, 256, (21, 13), dtype=np.uint8)).save(root / "trip" / "grey.jpg")
    (root / "trip" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "notes.txt").write_text("not an image")
    return root


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _failed(out):
    lines = (out / "_failed" / "failed.jsonl").read_text().splitlines()
    return sorted((json.loads(line) for line in lines), key=lambda record: record["file"])


def _assert_same_as_cli(cli_folder, beam_folder):
    assert _files(beam_folder) == _files(cli_folder)
    for name in _files(cli_folder):
        if (cli_folder / name).read_bytes() != (beam_folder / name).read_bytes():  # batching may round apart
            ours, theirs = Image.open(beam_folder / name), Image.open(cli_folder / name)
            assert ours.mode == theirs.mode and ours.size == theirs.size
            assert psnr(np.asarray(ours), np.asarray(theirs)) >= 50, name


def test_two_worker_processes_write_what_the_cli_writes_and_list_the_corrupt_file(photos, tmp_path, capsys):
    cli, out = tmp_path / "cli", tmp_path / "out"
    assert cartoonize_main(["--input", str(photos), "--output", str(cli), "--style", "hayao_lite"]) == 1
    capsys.readouterr()

    assert main(["--input", str(photos), "--output", str(out), "--style", "hayao_lite"] + MULTI_PROCESS) == 0

    assert "cartoonized 5, skipped 0 existing, failed 1" in capsys.readouterr().err
    _assert_same_as_cli(cli / "hayao_lite", out / "hayao_lite")
    [record] = _failed(out)
    assert record["file"] == str(photos / "trip" / "corrupt.jpg") and "cannot read image" in record["reason"]


def test_rerun_writes_only_what_is_missing(photos, tmp_path, tiny_preset, capsys):
    out = tmp_path / "out"
    args = ["--input", str(photos), "--output", str(out), "--preset", str(tiny_preset)]
    assert main(args) == 0
    assert "cartoonized 5, skipped 0 existing, failed 1" in capsys.readouterr().err
    for path in (out / "tiny").rglob("*.*"):
        os.utime(path, (0, 0))
    (out / "tiny" / "trip" / "c.jpg").unlink()  # a half-finished job

    assert main(args) == 0

    assert "cartoonized 1, skipped 4 existing, failed 1" in capsys.readouterr().err
    assert [p.name for p in (out / "tiny").rglob("*.*") if os.path.getmtime(p) > 0] == ["c.jpg"]
    assert [r["file"] for r in _failed(out)] == [str(photos / "trip" / "corrupt.jpg")]  # still listed
    assert not [p for p in out.rglob(".*")]  # no temporaries left


def test_glob_input_keeps_paths_below_the_fixed_folder_and_format(photos, tmp_path, tiny_preset, capsys):
    cli, out = tmp_path / "cli", tmp_path / "out"
    pattern = str(photos / "trip" / "*.jpg")
    common = ["--input", pattern, "--style", str(tiny_preset), "--format", "png", "--max-size", "20"]
    assert cartoonize_main(common + ["--output", str(cli)]) == 1
    assert main(common + ["--output", str(out)]) == 0
    assert _files(out / "tiny") == ["c.png", "grey.png"]
    _assert_same_as_cli(cli / "tiny", out / "tiny")
    assert max(Image.open(out / "tiny" / "c.png").size) == 20  # (20, 14: decoded at half size first, as the CLI)


def test_two_inputs_for_one_output_both_fail_by_name(tmp_path, tiny_preset, capsys):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    for name in ("x.jpg", "x.png", "y.png"):
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(photos / name)
    assert main(["--input", str(photos), "--output", str(out), "--preset", str(tiny_preset), "--format", "png"]) == 0
    assert _files(out / "tiny") == ["y.png"]
    records = _failed(out)
    assert [r["file"] for r in records] == [str(photos / "x.jpg"), str(photos / "x.png")]
    assert "would both be written to" in records[0]["reason"]


def test_output_inside_the_input_folder_is_not_read_again(photos, tmp_path, tiny_preset, capsys):
    args = ["--input", str(photos), "--output", str(photos / "out"), "--preset", str(tiny_preset)]
    assert main(args) == 0
    assert main(args) == 0
    assert "cartoonized 0, skipped 5 existing, failed 1" in capsys.readouterr().err


def test_oversized_file_goes_to_the_failed_list_unread(photos, tmp_path, tiny_preset, capsys):
    out = tmp_path / "out"
    assert main(["--input", str(photos / "trip"), "--output", str(out), "--preset", str(tiny_preset),
                 "--max-file-mb", "0.0001"]) == 0  # 104 bytes: every real photo here is larger
    reasons = {os.path.basename(r["file"]): r["reason"] for r in _failed(out)}
    assert sorted(reasons) == ["c.jpg", "corrupt.jpg", "d.png", "grey.jpg"]
    assert "over the limit" in reasons["c.jpg"] and "cannot read image" in reasons["corrupt.jpg"]


def test_images_over_the_pixel_limit_go_to_the_failed_list(photos, tmp_path, tiny_preset, capsys):
    out = tmp_path / "out"
    assert main(["--input", str(photos / "trip"), "--output", str(out), "--preset", str(tiny_preset),
                 "--pixel-limit", "0.0005"]) == 0  # 500 pixels: c.jpg has 41x30
    assert _files(out / "tiny") == ["day2/d.png", "grey.jpg"]
    reasons = {os.path.basename(r["file"]): r["reason"] for r in _failed(out)}
    assert sorted(reasons) == ["c.jpg", "corrupt.jpg"] and "pixel limit" in reasons["c.jpg"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--style", "no-such-style"], "unknown style"),
        (["--max-size", "-1"], "--max-size"),
        (["--max-batch-size", "0"], "--max-batch-size"),
        (["--pixel-limit", "0"], "--pixel-limit"),
        (["--tile-size", "8"], "tile side"),
        (["--format", "gif"], "invalid choice"),
        (["--style", "hayao", "--preset", "x"], "not allowed with"),
    ],
)
def test_wrong_flags_fail_before_any_work(photos, tmp_path, extra, message, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["--input", str(photos), "--output", str(out)] + extra)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_input_fails_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--input", str(tmp_path / "nope"), "--output", str(tmp_path / "out")])
    assert "nope" in capsys.readouterr().err


def test_model_handler_keeps_order_and_matches_the_cartoonizer_and_the_saved_model(tmp_path, tiny_preset):
    from cartoongan.beam import CartoonModelHandler, Photo
    from cartoongan.export import export_saved_model
    from cartoongan.inference import Cartoonizer
    from cartoongan.presets import load_preset

    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in ((12, 16, 3), (9, 7, 3), (12, 16, 3))]
    batch = [Photo(image, None) for image in images]
    expected = Cartoonizer.from_pretrained(str(tiny_preset), precision="float32").cartoonize_batch(images)
    export_saved_model(*load_preset(str(tiny_preset))[:2], tmp_path / "saved_model")

    for model_dir in (str(tiny_preset), str(tmp_path / "saved_model")):
        handler = CartoonModelHandler(model_dir, precision="float32")
        results = list(handler.run_inference(batch, handler.load_model()))
        assert [r.example for r in results] == batch
        for result, want in zip(results, expected):
            np.testing.assert_array_equal(result.inference, want)


def test_a_generator_failure_on_one_image_spares_the_others():
    from cartoongan.beam import CartoonModel, InferenceFailure

    def run(images):
        if any(image.shape[0] > 10 for image in images):
            raise MemoryError("too big")
        return [image + 1 for image in images]

    model = CartoonModel("unused")
    model._run = run
    small, big = np.zeros((4, 4, 3), np.uint8), np.zeros((20, 4, 3), np.uint8)
    results = model.cartoonize_batch([small, big, small])
    assert isinstance(results[1], InferenceFailure) and "too big" in results[1].reason
    np.testing.assert_array_equal(results[0], small + 1)


def _fake_remote_filesystem():
    """A Beam filesystem where `fake://PATH` is the local PATH, with an object store's
    manners (a folder does not `exist`, writes need no folders): the gs:// and s3:// code
    paths, run on the in-process runner."""
    from apache_beam.io.filesystem import FileMetadata, MatchResult
    from apache_beam.io.localfilesystem import LocalFileSystem

    prefix = "fake://"

    def local(path):
        return path[len(prefix):] if path.startswith(prefix) else path

    plain = LocalFileSystem(None)  # does the work: LocalFileSystem's methods call each other

    class FakeRemoteFileSystem(LocalFileSystem):
        @classmethod
        def scheme(cls):
            return "fake"

        def join(self, basepath, *paths):
            return prefix + plain.join(local(basepath), *paths)

        def split(self, path):
            head, tail = plain.split(local(path))
            return prefix + head, tail

        def match(self, patterns, limits=None):
            results = plain.match([local(p) for p in patterns], limits)
            return [MatchResult(prefix + r.pattern, [FileMetadata(prefix + m.path, m.size_in_bytes, m.last_updated_in_seconds)
                                                    for m in r.metadata_list if not os.path.isdir(m.path)])
                    for r in results]

        def create(self, path, *args, **kwargs):
            os.makedirs(os.path.dirname(local(path)), exist_ok=True)  # object stores need no folders
            return plain.create(local(path), *args, **kwargs)

        def open(self, path, *args, **kwargs):
            return plain.open(local(path), *args, **kwargs)

        def rename(self, sources, destinations):
            for destination in destinations:
                os.makedirs(os.path.dirname(local(destination)), exist_ok=True)
            return plain.rename([local(p) for p in sources], [local(p) for p in destinations])

        def copy(self, sources, destinations):
            return plain.copy([local(p) for p in sources], [local(p) for p in destinations])

        def delete(self, paths):
            return plain.delete([local(p) for p in paths])

        def mkdirs(self, path):
            os.makedirs(local(path), exist_ok=True)

        def exists(self, path):
            return os.path.isfile(local(path))

        def size(self, path):
            return plain.size(local(path))

        def last_updated(self, path):
            return plain.last_updated(local(path))

        def checksum(self, path):
            return plain.checksum(local(path))

        def metadata(self, path):
            return plain.metadata(local(path))

    return FakeRemoteFileSystem


@pytest.fixture(scope="module")
def fake_remote():
    """Registers `fake://` for the test module (Beam finds filesystems by subclassing)."""
    return _fake_remote_filesystem()


@pytest.mark.parametrize("slash", ["/", ""])
def test_remote_filesystem_paths_read_write_and_preset(photos, tmp_path, tiny_preset, fake_remote, capsys, slash):
    import shutil

    cli, out = tmp_path / "cli", tmp_path / "out"
    preset = tmp_path / "remote-preset"
    shutil.copytree(tiny_preset, preset)
    # --max-size 16: JPEGs are decoded reduced (DCT draft), so the remote copy must decode alike
    assert cartoonize_main(["--input", str(photos), "--output", str(cli), "--style", str(tiny_preset),
                            "--max-size", "16"]) == 1

    assert main(["--input", f"fake://{photos}{slash}", "--output", f"fake://{out}", "--max-size", "16",
                 "--preset", f"fake://{preset}", "--max-batch-size", "4"]) == 0

    assert "cartoonized 5, skipped 0 existing, failed 1" in capsys.readouterr().err
    _assert_same_as_cli(cli / "tiny", out / "tiny")
    assert [r["file"] for r in _failed(out)] == [f"fake://{photos}/trip/corrupt.jpg"]
    assert not [p for p in out.rglob(".*")]  # temporaries renamed into place
