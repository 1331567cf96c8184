"""Folder runs as a library (cartoongan.jobs): option values, destinations, the checked plan,
and the per-file loop with a stand-in cartoonizer (no model, no TensorFlow needed). The
command line over it is tested in tests/cli/test_cartoonize*.py."""

import numpy as np
import pytest
from PIL import Image

from cartoongan import jobs
from cartoongan.errors import ParameterError


@pytest.mark.parametrize("text, value", [("auto", "auto"), ("0", 0), ("16", 16), ("512", 512)])
def test_tile_sizes(text, value):
    assert jobs.parse_tile_size(text) == value


@pytest.mark.parametrize("text", ["big", "8", "15", "-16", ""])
def test_tile_sizes_below_16_or_not_numbers_are_refused(text):
    with pytest.raises(ValueError, match="tile side of at least 16"):
        jobs.parse_tile_size(text)


@pytest.mark.parametrize("text, value", [("4096", 4096), ("800M", 800 << 20), ("800MiB", 800 << 20),
                                         ("1.5G", 3 << 29), ("2gb", 2 << 30), ("1K", 1024)])
def test_sizes_in_bytes_use_units_of_1024(text, value):
    assert jobs.parse_size_in_bytes(text) == value


@pytest.mark.parametrize("text", ["lots", "0", "-1G", "G"])
def test_sizes_that_are_not_positive_numbers_are_refused(text):
    with pytest.raises(ValueError, match="size"):
        jobs.parse_size_in_bytes(text)


@pytest.mark.parametrize("text, pixels", [("89.5", 89_500_000), ("0.01", 10_000), ("1e-6", 1)])
def test_megapixels_become_pixels(text, pixels):
    assert jobs.parse_megapixels(text) == pixels


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "many", "1e-9"])
def test_megapixels_must_be_a_positive_finite_number_of_pixels(text):
    with pytest.raises(ValueError, match="positive number of megapixels"):
        jobs.parse_megapixels(text)


@pytest.mark.parametrize("relative, image_format, expected", [
    ("a/b.jpg", "same", "out/s/a/b.jpg"), ("b.JPG", "same", "out/s/b.JPG"), ("b.jpg", "png", "out/s/b.png"),
    ("b.png", "jpg", "out/s/b.jpg"), ("b.gif", "same", "out/s/b.png"),  # no GIF writer: PNG
    ("clip.webm", "png", "out/s/clip.webm"),  # a video keeps its container
])
def test_output_path(relative, image_format, expected):
    assert jobs.output_path("out", "s", jobs.Job("in/" + relative, relative), image_format) == expected


@pytest.fixture
def photos(tmp_path):
    """photos/a.png, photos/sub/b.jpg, a corrupt photos/bad.jpg and a non-image."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)).save(root / "a.png")
    Image.fromarray(rng.integers(0, 256, (12, 8, 3), dtype=np.uint8)).save(root / "sub" / "b.jpg")
    (root / "bad.jpg").write_bytes(b"\xff\xd8\xff not a photo")
    (root / "notes.txt").write_text("not an image")
    return root


def test_a_plan_gives_each_file_its_destination_below_the_style_folder(photos, tmp_path):
    plan = jobs.plan_run([str(photos)], str(tmp_path / "out"), ["hayao"], image_format="png")
    assert [job.relative_path for job in plan.jobs] == ["a.png", "bad.jpg", "sub/b.jpg"]
    (style,) = plan.styles
    assert style.folder == "hayao" and style.todo == plan.jobs
    assert sorted(style.destinations.values()) == [str(tmp_path / "out" / "hayao" / name)
                                                   for name in ("a.png", "bad.png", "sub/b.png")]


def test_existing_outputs_are_skipped_unless_overwrite(photos, tmp_path):
    (tmp_path / "out" / "hayao").mkdir(parents=True)
    (tmp_path / "out" / "hayao" / "a.png").write_bytes(b"done before")
    plan = jobs.plan_run([str(photos)], str(tmp_path / "out"), ["hayao"])
    assert [job.relative_path for job in plan.styles[0].todo] == ["bad.jpg", "sub/b.jpg"] and plan.skipped == 1
    plan = jobs.plan_run([str(photos)], str(tmp_path / "out"), ["hayao"], overwrite=True)
    assert len(plan.styles[0].todo) == 3 and plan.skipped == 0


@pytest.mark.parametrize("change, field, message", [
    (lambda tmp: dict(inputs=[f"{tmp}/nope"]), "inputs",
     "inputs {tmp}/nope: no such file or folder, and no glob match"),
    (lambda tmp: dict(inputs=[f"{tmp}/empty"]), "inputs", "inputs {tmp}/empty: no images or videos found"),
    (lambda tmp: dict(output_dir=f"{tmp}/file"), "output_dir", "output_dir {tmp}/file exists and is not a folder"),
    (lambda tmp: dict(styles=["hayao", "hayao"]), "styles",
     "styles hayao hayao: two styles would write to the same folder"),
    (lambda tmp: dict(max_size=-1), "max_size", "max_size must be >= 0"),
    (lambda tmp: dict(pixel_limit=0), "pixel_limit", "pixel_limit must be > 0"),
    (lambda tmp: dict(image_format="gif"), "image_format", "image_format must be one of same, png, jpg, not 'gif'"),
])
def test_a_wrong_parameter_is_named_by_the_plan(photos, tmp_path, change, field, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("a file")
    arguments = dict(inputs=[str(photos)], output_dir=str(tmp_path / "out"), styles=["hayao"]) | change(tmp_path)
    with pytest.raises(ParameterError) as refused:
        jobs.plan_run(**arguments)
    assert refused.value.field == field
    assert str(refused.value) == message.format(tmp=tmp_path)
    assert not (tmp_path / "out").exists()


def test_a_command_line_names_the_parameter_as_its_flag(tmp_path):
    with pytest.raises(ParameterError) as refused:
        jobs.plan_run([str(tmp_path / "nope")], str(tmp_path / "out"), ["hayao"])
    assert refused.value.explain({"inputs": "--input"}).startswith(f"--input {tmp_path / 'nope'}: no such file")


def test_a_destination_outside_the_output_folder_is_refused(photos, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "hayao").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(ParameterError) as refused:
        jobs.plan_run([str(photos / "a.png")], str(tmp_path / "out"), ["hayao"])
    assert refused.value.field == "output_dir" and "would be written outside output_dir" in str(refused.value)


class Recorder(jobs.Report):
    def __init__(self):
        self.calls = []

    def skipped(self, count):
        self.calls.append(("skipped", count))

    def file_done(self, job):
        self.calls.append(("done", job.relative_path))

    def error(self, message):
        self.calls.append(("error", message))


def test_the_run_writes_what_it_can_and_lists_what_failed(photos, tmp_path):
    out = tmp_path / "out"
    plan = jobs.plan_run([str(photos)], str(out), ["hayao"], max_size=7)
    report = Recorder()
    result = jobs.run_plan(plan, {"hayao": lambda rgb: 255 - rgb}, report)
    assert result == jobs.RunResult(written=2, skipped=0, failed=[str(photos / "bad.jpg")])
    a = np.asarray(Image.open(out / "hayao" / "a.png"))
    assert a.shape == (5, 7, 3)  # shrunk to the long side of 7 before the stand-in ran
    assert (out / "hayao" / "sub" / "b.jpg").is_file() and not (out / "hayao" / "bad.jpg").exists()
    errors = [message for kind, message in report.calls if kind == "error"]
    assert len(errors) == 1 and errors[0].startswith(f"{photos / 'bad.jpg'}: cannot read image")
    assert [call for call in report.calls if call[0] != "error"] == [
        ("skipped", 0), ("done", "a.png"), ("done", "bad.jpg"), ("done", "sub/b.jpg")]
    # run again: everything written is skipped, the failed file is tried again
    result = jobs.run_plan(jobs.plan_run([str(photos)], str(out), ["hayao"], max_size=7),
                           {"hayao": lambda rgb: 255 - rgb})
    assert result == jobs.RunResult(written=0, skipped=2, failed=[str(photos / "bad.jpg")])


def test_only_styles_with_work_are_loaded(photos, tmp_path, monkeypatch):
    from cartoongan import inference

    loaded = []
    monkeypatch.setattr(inference.Cartoonizer, "from_pretrained", lambda style, **options: loaded.append(style))
    for name in ("a.png", "bad.jpg", "sub/b.jpg"):  # every output of hayao exists
        (tmp_path / "out" / "hayao" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "out" / "hayao" / name).write_bytes(b"")
    plan = jobs.plan_run([str(photos)], str(tmp_path / "out"), ["hayao", "hayao_lite"])
    assert list(jobs.load_cartoonizers(plan, tile_size=0)) == ["hayao_lite"] and loaded == ["hayao_lite"]


def test_the_cli_memory_budget_default_is_the_cartoonizers():
    # jobs cannot import inference (it loads TensorFlow, and --help must not): two constants.
    from cartoongan import inference

    assert jobs.DEFAULT_MEMORY_BUDGET == inference.DEFAULT_MEMORY_BUDGET


# --- re-runs: what an output was made with ------------------------------------------------------

def _run(photos, out, look=None, overwrite=False, max_size=7):
    """A run with a stand-in cartoonizer that shows the look's strength in its pixels."""
    from cartoongan.options import LookOptions

    look = look or LookOptions()
    plan = jobs.plan_run([str(photos)], str(out), ["hayao"], max_size=max_size, look=look, overwrite=overwrite)
    level = round(255 * look.strength)
    return plan, jobs.run_plan(plan, {"hayao": lambda rgb: np.full_like(rgb, level)})


def test_a_rerun_with_another_look_or_size_redoes_the_outputs_and_the_same_settings_skip(photos, tmp_path):
    """Was: "wrote 0, skipped 2 existing" for a re-run with --strength 0.5 (existence alone
    counted). Now the marker records each output's settings: the same ones skip, others
    replace every output, and only outputs made otherwise count as replaced."""
    from cartoongan.options import LookOptions

    out, half = tmp_path / "out", LookOptions(strength=0.5)
    (photos / "bad.jpg").unlink()
    plan, result = _run(photos, out)
    assert (result.written, result.skipped, plan.replaced) == (2, 0, 0)
    plan, result = _run(photos, out)
    assert (result.written, result.skipped, plan.replaced) == (0, 2, 0)
    plan, result = _run(photos, out, half)
    assert (result.written, result.skipped, plan.replaced) == (2, 0, 2)
    assert np.asarray(Image.open(out / "hayao" / "a.png")).max() == 128  # the new look's pixels
    plan, result = _run(photos, out, half)
    assert (result.written, result.skipped) == (0, 2)
    for look in (LookOptions(strength=0.5, keep_colors=True), LookOptions(strength=0.5, style_size=16)):
        assert len(_run(photos, out, look)[0].styles[0].todo) == 2
    plan, result = _run(photos, out, LookOptions(strength=0.5, style_size=16), max_size=9)  # --max-size too
    assert (result.written, plan.replaced) == (2, 2)
    plan, result = _run(photos, out, LookOptions(strength=0.5, style_size=16), max_size=9, overwrite=True)
    assert (result.written, plan.replaced) == (2, 0)  # --overwrite: everything, whatever was recorded


def test_a_rerun_with_portraits_or_another_face_style_redoes_the_outputs(photos, tmp_path):
    """Drawing faces apart changes the pixels, so the face style is part of what an output is
    made with: a plain run's outputs are redone by a --portrait run, and by one with another
    face style; the same portrait settings skip."""
    from cartoongan.options import PortraitOptions

    out = tmp_path / "out"
    (photos / "bad.jpg").unlink()
    _run(photos, out)

    def todo(portrait):
        plan = jobs.plan_run([str(photos)], str(out), ["hayao"], max_size=7, portrait=portrait)
        return len(plan.styles[0].todo), plan.replaced

    assert todo(PortraitOptions()) == (0, 0)
    assert todo(PortraitOptions(portrait=True)) == (2, 2)
    plan = jobs.plan_run([str(photos)], str(out), ["hayao"], max_size=7, portrait=PortraitOptions(portrait=True))
    jobs.run_plan(plan, {"hayao": lambda rgb: rgb})
    assert todo(PortraitOptions(portrait=True)) == (0, 0)
    assert todo(PortraitOptions(portrait=True, face_style="hayao")) == (2, 2)


def test_an_output_without_a_record_is_kept_and_a_torn_record_is_ignored(photos, tmp_path):
    """A file the marker says nothing of (the user's, or an older version's) is never replaced
    unasked; a line that a killed writer left half-written is ignored, not fatal."""
    from cartoongan.options import LookOptions

    out = tmp_path / "out"
    (photos / "bad.jpg").unlink()
    _run(photos, out)
    marker = out / "hayao" / jobs.STYLE_FOLDER_MARKER
    lines = marker.read_text().splitlines()
    assert lines[0] + "\n" == jobs.STYLE_FOLDER_MARKER_TEXT and len(lines) == 3
    marker.write_text(lines[0] + '\n{"output": "sub/b.j')  # the records gone, but for a torn one
    assert jobs.read_records(str(out / "hayao")) == {}
    (out / "hayao" / "a.png").write_bytes(b"the user's file")
    plan, result = _run(photos, out, LookOptions(strength=0.5))
    assert (result.written, result.skipped) == (0, 2)
    assert (out / "hayao" / "a.png").read_bytes() == b"the user's file"
    jobs.mark_style_folder(str(out / "hayao"))  # marking again keeps the records
    jobs.add_record(str(out / "hayao"), str(out / "hayao" / "a.png"), {"strength": 1.0})
    assert jobs.read_records(str(out / "hayao")) == {"a.png": {"strength": 1.0}}  # not lost to the torn line


def test_earlier_outputs_below_the_input_are_never_read_again_wherever_the_output_goes(photos, tmp_path):
    """Was: `--input photos --output photos`, then `--output photos/sub/out` cartoonized
    `photos/hayao/*` again (only style folders right below the current output were skipped)."""
    (photos / "bad.jpg").unlink()
    _run(photos, photos)
    assert (photos / "hayao" / "a.png").is_file()
    for output in (photos / "sub" / "out", tmp_path / "elsewhere"):
        plan = jobs.plan_run([str(photos)], str(output), ["hayao"])
        assert sorted(job.relative_path for job in plan.jobs) == ["a.png", "sub/b.jpg"]
        plan = jobs.plan_run([str(photos / "**" / "*.*g")], str(output), ["hayao"])  # a glob too
        assert sorted(job.relative_path for job in plan.jobs) == ["a.png", "b.jpg"]
    with pytest.raises(ParameterError) as refused:  # the results folder named as the input
        jobs.plan_run([str(photos / "hayao")], str(tmp_path / "again"), ["hayao"])
    assert refused.value.field == "inputs" and "a folder of results this tool wrote" in str(refused.value)
    plan = jobs.plan_run([str(photos / "hayao" / "a.png")], str(tmp_path / "again"), ["hayao"])
    assert len(plan.jobs) == 1  # a file named on its own is read wherever it lies
