"""The Beam pipeline (cartoongan.beam, cartoongan-cartoonize-beam) against the CLI, on the DirectRunner."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.conftest import psnr, required_module

required_module("apache_beam")

from cartoongan.cli.cartoonize import main as cartoonize_main  # noqa: E402
from cartoongan.cli.cartoonize_beam import main  # noqa: E402
from cartoongan.jobs import STYLE_FOLDER_MARKER  # noqa: E402

# Two worker processes, as a real local run uses; the in-process runner (default) for
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


def _assert_same_as_cli(cli_folder, beam_folder, records=True):
    """`records`: the markers record the same settings (an object store's output keeps none)."""
    from cartoongan.jobs import read_records

    assert _files(beam_folder) == _files(cli_folder)
    assert read_records(beam_folder) == (read_records(cli_folder) if records else {})
    for name in _files(cli_folder):
        if name == STYLE_FOLDER_MARKER:  # its records come in the order the workers finish
            continue
        if (cli_folder / name).read_bytes() != (beam_folder / name).read_bytes():  # batching may round apart
            ours, theirs = Image.open(beam_folder / name), Image.open(cli_folder / name)
            assert ours.mode == theirs.mode and ours.size == theirs.size
            assert psnr(np.asarray(ours), np.asarray(theirs)) >= 50, name


def test_two_worker_processes_write_what_the_cli_writes_and_list_the_corrupt_file(photos, tmp_path, temporary,
                                                                                 capsys):
    cli, out = tmp_path / "cli", tmp_path / "out"
    assert cartoonize_main(["--input", str(photos), "--output", str(cli), "--style", "hayao_lite"]) == 1
    capsys.readouterr()
    before = sorted(os.listdir(temporary))  # TensorFlow's autograph files of this process (removed at its exit)

    assert main(["--input", str(photos), "--output", str(out), "--style", "hayao_lite"] + MULTI_PROCESS) == 0

    assert "cartoonized 5, skipped 0 existing, failed 1" in capsys.readouterr().err
    _assert_same_as_cli(cli / "hayao_lite", out / "hayao_lite")
    [record] = _failed(out)
    assert record["file"] == str(photos / "trip" / "corrupt.jpg")
    # the reason names the file, never the reader's file object (`<_io.BufferedReader name=3>`)
    assert record["reason"].startswith(f"{record['file']}: cannot read image (not a JPEG, PNG")
    assert "BufferedReader" not in record["reason"]
    assert sorted(os.listdir(temporary)) == before  # nothing of the run's, its worker processes' included


@pytest.fixture
def temporary(tmp_path, monkeypatch):
    """A TMPDIR of the test's own: Beam's job server left `beam-temp*` and `tmp*` folders in it."""
    import tempfile

    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    return folder


def test_a_run_leaves_nothing_in_the_temporary_folder(photos, tmp_path, tiny_preset, temporary, capsys):
    import tempfile

    assert main(["--input", str(photos), "--output", str(tmp_path / "out"), "--preset", str(tiny_preset)]) == 0
    assert "cartoonized 5" in capsys.readouterr().err
    assert os.listdir(temporary) == []
    assert tempfile.gettempdir() == str(temporary) and os.environ["TMPDIR"] == str(temporary)  # restored


@pytest.mark.parametrize("link", ["tiny", "tiny/trip", "_failed"])
def test_a_link_below_the_output_cannot_redirect_writes(photos, tmp_path, tiny_preset, capsys, link):
    """`ln -s /elsewhere out/hayao_lite` must not make Beam write into /elsewhere: refused
    before any work, as the CLI does, naming the link."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / link).parent.mkdir(parents=True, exist_ok=True)
    (out / link).symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(SystemExit) as exit_info:
        main(["--input", str(photos), "--output", str(out), "--preset", str(tiny_preset)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"{out / link} is a link to {elsewhere}: results would be written outside --output {out}" in err
    assert list(elsewhere.iterdir()) == []


def test_the_library_run_checks_the_links_too(photos, tmp_path, tiny_preset):
    from cartoongan.beam import BeamJob, run
    from cartoongan.errors import ParameterError

    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    (out / "tiny").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ParameterError, match="results would be written outside output"):
        run(BeamJob(input=str(photos), output=str(out), style=str(tiny_preset)))
    assert list(elsewhere.iterdir()) == []


def test_links_that_stay_inside_the_output_are_followed(photos, tmp_path, tiny_preset, capsys):
    out = tmp_path / "out"
    (out / "kept").mkdir(parents=True)
    (out / "tiny").symlink_to(out / "kept", target_is_directory=True)
    (out / "kept" / "loop").symlink_to(out, target_is_directory=True)  # a loop is walked once
    assert main(["--input", str(photos), "--output", str(out), "--preset", str(tiny_preset)]) == 0
    assert (out / "kept" / "a.png").is_file()


def test_output_equal_to_input_skips_the_style_folders_of_every_earlier_run(tmp_path, tiny_preset, capsys):
    """As with the CLI (tests/cli/test_cartoonize_safety.py): a second style must not read the
    first one's results, whichever tool wrote them."""
    import shutil

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(folder / "x.png")
    other = tmp_path / "other"
    shutil.copytree(tiny_preset, other)
    config = json.loads((other / "config.json").read_text())
    config["name"] = "other"
    (other / "config.json").write_text(json.dumps(config))
    assert cartoonize_main(["--input", str(folder), "--output", str(folder), "--style", str(tiny_preset)]) == 0
    assert main(["--input", str(folder), "--output", str(folder), "--preset", str(other)]) == 0
    assert "cartoonized 1, skipped 0 existing, failed 0" in capsys.readouterr().err
    assert _files(folder / "other") == [STYLE_FOLDER_MARKER, "x.png"]
    assert cartoonize_main(["--input", str(folder), "--output", str(folder), "--style", str(tiny_preset) + "/"]) == 0
    assert "wrote 0, skipped 1 existing" in capsys.readouterr().err  # the CLI skips Beam's folder too


def test_a_corrupt_jpeg_goes_to_the_failed_list_by_name(tmp_path, tiny_preset, capsys):
    from tests.test_image_decoding import _claiming, _jpeg_bytes

    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    (photos / "claims-400x400.jpg").write_bytes(_claiming(_jpeg_bytes(80, 64), 400, 400))
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(photos / "fine.png")
    assert main(["--input", str(photos), "--output", str(out), "--preset", str(tiny_preset)]) == 0
    assert "cartoonized 1, skipped 0 existing, failed 1" in capsys.readouterr().err
    [record] = _failed(out)
    assert record["file"] == str(photos / "claims-400x400.jpg")
    assert "corrupt or truncated JPEG (Corrupt JPEG data: premature end of data segment)" in record["reason"]
    assert _files(out / "tiny") == [STYLE_FOLDER_MARKER, "fine.png"]


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
    assert [p.name for p in (out / "tiny").rglob("*.*") if os.path.getmtime(p) > 0 and p.name != STYLE_FOLDER_MARKER
            ] == ["c.jpg"]
    assert [r["file"] for r in _failed(out)] == [str(photos / "trip" / "corrupt.jpg")]  # still listed
    assert [p.name for p in out.rglob(".*")] == [STYLE_FOLDER_MARKER]  # no temporaries left


def test_glob_input_keeps_paths_below_the_fixed_folder_and_format(photos, tmp_path, tiny_preset, capsys):
    cli, out = tmp_path / "cli", tmp_path / "out"
    pattern = str(photos / "trip" / "*.jpg")
    common = ["--input", pattern, "--style", str(tiny_preset), "--format", "png", "--max-size", "20"]
    assert cartoonize_main(common + ["--output", str(cli)]) == 1
    assert main(common + ["--output", str(out)]) == 0
    assert _files(out / "tiny") == [STYLE_FOLDER_MARKER, "c.png", "grey.png"]
    _assert_same_as_cli(cli / "tiny", out / "tiny")
    assert max(Image.open(out / "tiny" / "c.png").size) == 20  # (20, 14: decoded at half size first, as the CLI)


def test_two_inputs_for_one_output_both_fail_by_name(tmp_path, tiny_preset, capsys):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    for name in ("x.jpg", "x.png", "y.png"):
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(photos / name)
    assert main(["--input", str(photos), "--output", str(out), "--preset", str(tiny_preset), "--format", "png"]) == 0
    assert _files(out / "tiny") == [STYLE_FOLDER_MARKER, "y.png"]
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
    assert _files(out / "tiny") == [STYLE_FOLDER_MARKER, "day2/d.png", "grey.jpg"]
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
    _assert_same_as_cli(cli / "tiny", out / "tiny", records=False)
    assert [r["file"] for r in _failed(out)] == [f"fake://{photos}/trip/corrupt.jpg"]
    assert [p.name for p in out.rglob(".*")] == [STYLE_FOLDER_MARKER]  # temporaries renamed into place


def test_a_rerun_with_another_look_redoes_the_outputs_and_the_same_look_skips(photos, tmp_path, tiny_preset, capsys):
    """As the CLI: the style folder's marker records what each output was made with."""
    out = tmp_path / "out"
    args = ["--input", str(photos), "--output", str(out), "--preset", str(tiny_preset)]
    assert main(args) == 0
    assert "cartoonized 5, skipped 0 existing, failed 1" in capsys.readouterr().err
    assert main(args + ["--strength", "0.5"]) == 0
    assert "cartoonized 5, skipped 0 existing, failed 1" in capsys.readouterr().err
    assert main(args + ["--strength", "0.5"]) == 0
    assert "cartoonized 0, skipped 5 existing, failed 1" in capsys.readouterr().err
    assert cartoonize_main(["--input", str(photos), "--output", str(out), "--style", str(tiny_preset),
                            "--strength", "0.5"]) == 1  # the CLI reads Beam's records (the corrupt file fails)
    assert "wrote 0, skipped 5 existing" in capsys.readouterr().err


def test_results_below_the_input_are_never_read_and_a_results_folder_is_refused(tmp_path, tiny_preset, capsys):
    """Was: given a marked style folder, Beam said "cartoonized 0, skipped 0, failed 0" and
    nothing of why; and results below the input were read when the output moved."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(folder / "x.png")
    assert cartoonize_main(["--input", str(folder), "--output", str(folder), "--style", str(tiny_preset)]) == 0
    assert main(["--input", str(folder), "--output", str(folder / "sub" / "out"), "--preset", str(tiny_preset)]) == 0
    assert "cartoonized 1, skipped 0 existing" in capsys.readouterr().err
    assert _files(folder / "sub" / "out" / "tiny") == [STYLE_FOLDER_MARKER, "x.png"]  # not tiny/x.png
    with pytest.raises(SystemExit):
        main(["--input", str(folder / "tiny"), "--output", str(tmp_path / "out"), "--preset", str(tiny_preset)])
    assert (f"--input {folder / 'tiny'}: a folder of results this tool wrote (it holds {STYLE_FOLDER_MARKER})"
            in capsys.readouterr().err)
