"""tools/cartoonize.py on videos: beside images, in folders, damaged, killed and resumed."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from cartoongan.cli.cartoonize import main
from cartoongan.jobs import STYLE_FOLDER_MARKER
from tests.conftest import PROJECT_ROOT
from tests.test_video import make_clip, packets, video_times


@pytest.fixture
def media_tree(tmp_path):
    root = tmp_path / "media"
    (root / "trip").mkdir(parents=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 41, 3), dtype=np.uint8)).save(root / "a.jpg")
    make_clip(root / "clip.mp4", frames=12)
    make_clip(root / "trip" / "phone.mov", frames=5, width=64, height=48, rotation=90, audio=False)
    return root


def test_videos_beside_images_keep_their_container_frames_and_sound(media_tree, tmp_path, tiny_preset, capsys):
    out = tmp_path / "out"
    code = main(["--input", str(media_tree), "--output", str(out), "--style", str(tiny_preset), "--format", "png"])
    assert code == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == [f"tiny/{STYLE_FOLDER_MARKER}", "tiny/a.png", "tiny/clip.mp4",
                       "tiny/trip/phone.mov"]  # --format is for images
    assert video_times(out / "tiny" / "clip.mp4") == pytest.approx(video_times(media_tree / "clip.mp4"), abs=1e-6)
    assert packets(out / "tiny" / "clip.mp4", "audio") == packets(media_tree / "clip.mp4", "audio")
    assert len(video_times(out / "tiny" / "trip" / "phone.mov")) == 5
    err = capsys.readouterr().err
    assert "clip.mp4: 12 frames" in err and "wrote 3" in err
    # a second run finds them done
    assert main(["--input", str(media_tree), "--output", str(out), "--style", str(tiny_preset), "--format", "png"]) == 0
    assert "skipped 3 existing" in capsys.readouterr().err


def test_max_size_applies_to_videos(media_tree, tmp_path, tiny_preset):
    out = tmp_path / "out"
    assert main(["--input", str(media_tree / "clip.mp4"), "--output", str(out), "--style", str(tiny_preset),
                 "--max-size", "32", "--video-quality", "30"]) == 0
    import av

    with av.open(str(out / "tiny" / "clip.mp4")) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (32, 24)


@pytest.mark.parametrize("name, quality, ok", [("clip.mp4", 52, False), ("clip.webm", 60, True), ("clip.mp4", -1, False)])
def test_video_quality_is_checked_before_any_work(tmp_path, tiny_preset, capsys, name, quality, ok):
    (tmp_path / name).write_bytes(b"")  # never read when the flags are wrong
    args = ["--input", str(tmp_path / name), "--output", str(tmp_path / "out"), "--style", str(tiny_preset),
            "--video-quality", str(quality)]
    if ok:
        assert main(args) == 1  # accepted, then the empty file is reported
        assert f"{name}: cannot read video" in capsys.readouterr().err
    else:
        with pytest.raises(SystemExit) as exit:
            main(args)
        assert exit.value.code == 2 and "CRF" in capsys.readouterr().err
        assert not (tmp_path / "out").exists()


def test_a_damaged_video_is_written_as_far_as_it_decodes_and_reported(media_tree, tmp_path, tiny_preset, capsys):
    clean = make_clip(tmp_path / "clean.mkv", frames=60, width=160, height=120)
    data = open(clean, "rb").read()
    (media_tree / "cut.mkv").write_bytes(data[: len(data) * 6 // 10])
    out = tmp_path / "out"
    assert main(["--input", str(media_tree), "--output", str(out), "--style", str(tiny_preset)]) == 1
    err = capsys.readouterr().err
    assert "cut.mkv: truncated or damaged" in err and "failed: " + str(media_tree / "cut.mkv") in err
    assert 0 < len(video_times(out / "tiny" / "cut.mkv")) < 60
    assert (out / "tiny" / "a.jpg").exists() and (out / "tiny" / "clip.mp4").exists()


@pytest.mark.slow
def test_a_killed_run_is_resumed_by_the_same_command(tmp_path, tiny_preset):
    source = make_clip(tmp_path / "long.mp4", frames=750, width=160, height=120)
    out = tmp_path / "out"
    command = [sys.executable, "tools/cartoonize.py", "--input", source, "--output", str(out), "--style", str(tiny_preset)]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # killed once a segment is finished (segments close every 15 s or 250 frames)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            manifests = glob.glob(str(out / "tiny" / ".long.mp4.segments-*" / "manifest.json"))
            try:
                if manifests and json.load(open(manifests[0]))["segments"]:
                    break
            except ValueError:
                pass
            assert process.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert not (out / "tiny" / "long.mp4").exists()
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "resumed from an earlier run" in result.stderr
    assert video_times(out / "tiny" / "long.mp4") == pytest.approx(video_times(source), abs=1e-6)
    assert packets(out / "tiny" / "long.mp4", "audio") == packets(source, "audio")
    assert [name for name in os.listdir(out / "tiny") if name.startswith(".")] == [STYLE_FOLDER_MARKER]
