import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from cartoongan.cli.build_tfrecords import _lock, main, remove_abandoned_builds
from cartoongan.data import edge_smooth
from cartoongan.data.tfrecords import family_files, parse_anime, parse_photo
from tests.conftest import PROJECT_ROOT
from tests.data.test_edge_smoothing import synthetic_anime


@pytest.fixture
def sources(tmp_path):
    """photos/: nested, one large (shrunk), one greyscale, a corrupt file, a non-image;
    anime/: synthetic cel-shaded images with edges to smooth."""
    rng = np.random.default_rng(0)
    photos, anime = tmp_path / "photos", tmp_path / "anime"
    (photos / "sub").mkdir(parents=True)
    anime.mkdir()
    Image.fromarray(rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)).save(photos / "big.png")
    Image.fromarray(rng.integers(0, 256, (12, 9, 3), dtype=np.uint8)).save(photos / "sub" / "small.jpg")
    Image.fromarray(rng.integers(0, 256, (14, 15), dtype=np.uint8)).save(photos / "sub" / "grey.png")
    (photos / "sub" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (photos / "notes.txt").write_text("not an image")
    for i, shape in enumerate([(40, 60), (24, 24), (20, 31)]):
        Image.fromarray(synthetic_anime(*shape, seed=i)).save(anime / f"a{i}.png")
    return photos, anime


def read(paths, parse):
    return list(tf.data.TFRecordDataset(paths).map(parse).as_numpy_iterator())


def build(sources, out, *extra):
    photos, anime = sources
    return main(["--photos", str(photos), "--anime", str(anime), "--output", str(out), "--image-size", "20",
                 "--num-shards", "2", *extra])


def test_builds_shards_and_reports_the_corrupt_file(sources, tmp_path, capsys):
    out = tmp_path / "out"
    assert build(sources, out, "--workers", "1") == 1
    assert "corrupt.jpg" in capsys.readouterr().err
    info = json.loads((out / "dataset.json").read_text())
    assert info["photo"]["examples"] == 3 and info["anime"]["examples"] == 3
    assert info["skipped"] == [str(sources[0] / "sub" / "corrupt.jpg")]
    assert info["options"]["image_size"] == 20
    assert sorted(os.listdir(out)) == sorted(["dataset.json"] + info["photo"]["files"] + info["anime"]["files"])
    assert info["photo"]["files"] == ["photo-00000-of-00002.tfrecord", "photo-00001-of-00002.tfrecord"]
    # round robin over the sorted files: big, sub/grey, sub/small; the short side shrunk to <= 20
    shapes = [image.shape for image in read(family_files(out, "photo"), parse_photo)]
    assert shapes == [(20, 33, 3), (12, 9, 3), (14, 15, 3)]
    animes = read(family_files(out, "anime"), parse_anime)
    assert [a.shape for a, _ in animes] == [(20, 30, 3), (20, 31, 3), (20, 20, 3)]
    for anime, smooth in animes:
        np.testing.assert_array_equal(smooth, edge_smooth(anime))  # smoothed after the resize
        assert not np.array_equal(smooth, anime)


def test_parallel_workers_write_the_same_records(sources, tmp_path):
    (sources[0] / "sub" / "corrupt.jpg").unlink()
    assert build(sources, tmp_path / "one", "--workers", "1") == 0
    assert build(sources, tmp_path / "two", "--workers", "2") == 0
    for family in ("photo", "anime"):
        for a, b in zip(family_files(tmp_path / "one", family), family_files(tmp_path / "two", family), strict=True):
            assert open(a, "rb").read() == open(b, "rb").read()


@pytest.mark.parametrize("flags, message", [
    (["--image-size", "0"], "--image-size must be >= 1"),
    (["--num-shards", "0"], "--num-shards must be >= 1"),
    (["--photos", "missing/"], "no such folder"),
    (["--photos", "tfds:photo2anime"], "needs --tfds-data-dir"),
])
def test_bad_flags_fail_with_status_2_before_any_work(sources, tmp_path, capsys, flags, message):
    photos, anime = sources
    args = ["--photos", str(photos), "--anime", str(anime), "--output", str(tmp_path / "out"), *flags]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_existing_dataset_needs_overwrite_and_is_replaced_whole(sources, tmp_path, capsys):
    (sources[0] / "sub" / "corrupt.jpg").unlink()
    out = tmp_path / "out"
    assert build(sources, out, "--workers", "1", "--num-shards", "3") == 0
    with pytest.raises(SystemExit) as exit_info:
        build(sources, out, "--workers", "1")
    assert exit_info.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert build(sources, out, "--workers", "1", "--num-shards", "1", "--overwrite") == 0
    assert sorted(os.listdir(out)) == ["anime-00000-of-00001.tfrecord", "dataset.json", "photo-00000-of-00001.tfrecord"]


def test_corrupt_and_truncated_files_are_reported_by_name_from_workers(sources, tmp_path, capsys):
    png = (sources[0] / "big.png").read_bytes()
    (sources[0] / "truncated.png").write_bytes(png[: len(png) // 2])
    out = tmp_path / "out"
    assert build(sources, out, "--workers", "2") == 1
    err = capsys.readouterr().err
    for name in ("corrupt.jpg", "truncated.png"):
        assert f"{name}: cannot read image" in err
    assert json.loads((out / "dataset.json").read_text())["skipped"] == [
        str(sources[0] / "sub" / "corrupt.jpg"), str(sources[0] / "truncated.png")]


# --- leftovers of killed builds, workers of a killed build -------------------------------------


def test_leftovers_of_a_killed_build_are_removed_but_a_running_build_is_left_alone(sources, tmp_path, capsys):
    (sources[0] / "sub" / "corrupt.jpg").unlink()
    out = tmp_path / "out"
    abandoned = out / ".partial-build-killed"
    abandoned.mkdir(parents=True)
    (abandoned / "photo-00000-of-00002.tfrecord.partial").write_bytes(b"half a shard")
    (out / ".dataset.json.partial-x1y2").write_text('{"photo":')  # from a build before staged dataset.json
    running = out / ".partial-build-running"
    running.mkdir()
    lock = _lock(str(running))  # what a live build holds on its staging folder
    try:
        assert build(sources, out, "--workers", "1") == 0
    finally:
        os.close(lock)
    err = capsys.readouterr().err
    assert f"removed {abandoned}" in err and f"removed {out / '.dataset.json.partial-x1y2'}" in err
    assert sorted(os.listdir(out)) == sorted([".partial-build-running", "dataset.json", "photo-00000-of-00002.tfrecord",
                                              "photo-00001-of-00002.tfrecord", "anime-00000-of-00002.tfrecord",
                                              "anime-00001-of-00002.tfrecord"])
    assert remove_abandoned_builds(out) == [str(running)]  # the lock is gone: now it is a leftover


# The build in a subprocess, with every photo slowed down in the parent (not in the workers):
# the workers have done their share and wait idle on their task queue, the case that no
# signal from a dying pool reaches.
_SLOW_BUILD = """
import multiprocessing, sys, time
import cartoongan.data.tfrecords as tfrecords
from cartoongan.cli import build_tfrecords
make_example = tfrecords.photo_example
def slow_example(*args):
    time.sleep(0.25)
    return make_example(*args)
tfrecords.photo_example = slow_example
if sys.argv[1] == "spawn":  # where there is no forkserver (macOS, Windows)
    build_tfrecords._worker_context = lambda: multiprocessing.get_context("spawn")
sys.exit(build_tfrecords.main(sys.argv[2:]))
"""


def _children():
    """{pid: parent pid} of every process (Linux /proc)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _descendants(pid):
    parents, found, frontier = _children(), set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _running(pid):
    """Alive and not a zombie (an orphaned zombie waits on a PID 1 that may never reap it)."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads the process tree from /proc (Linux)")
@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_killed_build_leaves_no_workers_and_the_next_build_cleans_up(tmp_path, capsys, start_method):
    import signal
    import subprocess
    import sys
    import time

    photos, anime = tmp_path / "photos", tmp_path / "anime"
    photos.mkdir()
    anime.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(photos / f"p{i:02d}.png")
    Image.fromarray(synthetic_anime(24, 24, seed=0)).save(anime / "a.png")
    out = tmp_path / "out"
    args = ["--photos", str(photos), "--anime", str(anime), "--output", str(out), "--workers", "2"]
    build_process = subprocess.Popen([sys.executable, "-c", _SLOW_BUILD, start_method, *args], cwd=PROJECT_ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        # the resource tracker, both workers (and the forkserver)
        expected = 4 if start_method == "forkserver" else 3
        while len(_descendants(build_process.pid)) < expected or not list(out.glob(".partial-build-*")):
            assert build_process.poll() is None and time.monotonic() < deadline, "the build did not start its workers"
            time.sleep(0.2)
        time.sleep(1.0)  # the workers are idle now, waiting for tasks the parent has not sent
        assert build_process.poll() is None, "the build ended before it could be killed"
        started = _descendants(build_process.pid)
        build_process.send_signal(signal.SIGKILL)
        # Not reaped yet: the killed build stays a zombie meanwhile (as under a parent that
        # is slow to wait), which its workers must not take for a live build.
        deadline = time.monotonic() + 5
        while [pid for pid in started if _running(pid)] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in started if _running(pid)], "processes of the killed build still run"
    finally:
        build_process.kill()
        build_process.wait()

    (leftover,) = out.glob(".partial-build-*")
    assert main(args[:-2] + ["--workers", "1"]) == 0
    assert f"removed {leftover}" in capsys.readouterr().err
    assert not list(out.glob(".partial-*")) and (out / "dataset.json").is_file()
