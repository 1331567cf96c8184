"""The TFRecord build engine (cartoongan.data.build): options checked before any work, the
same records from one process or several, leftovers of killed builds, workers of a killed
build. The command line around it is tested in tests/cli/test_build_tfrecords.py."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from cartoongan.data.build import BuildOptions, build_dataset, lock_directory, plan_build, remove_abandoned_builds
from cartoongan.data.tfrecords import family_files
from cartoongan.errors import ParameterError
from tests.conftest import PROJECT_ROOT
from tests.data.test_edge_smoothing import synthetic_anime


@pytest.fixture
def sources(tmp_path):
    return make_sources(tmp_path)


def make_sources(tmp_path):
    """photos/: nested, one large (shrunk), one greyscale, a corrupt file, a non-image;
    anime/: synthetic cel-shaded images with edges to smooth. -> (photos, anime)"""
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


def options(sources, out, **changes):
    photos, anime = sources
    return BuildOptions(**{"photos": str(photos), "anime": str(anime), "output": str(out), "image_size": 20,
                           "num_shards": 2, **changes})


def test_a_build_reports_each_image_and_skips_the_unreadable_one(sources, tmp_path):
    done, lines = [], []
    result = build_dataset(options(sources, tmp_path / "out"), progress=done.append, log=lines.append)
    assert result.counts == {"photo": 3, "anime": 3}
    assert result.skipped == [str(sources[0] / "sub" / "corrupt.jpg")]
    assert done == ["photo"] * 4 + ["anime"] * 3  # the corrupt photo is done too
    assert [line for line in lines if "corrupt.jpg: cannot read image" in line] == lines and len(lines) == 1
    info = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert info["photo"]["files"] == result.files["photo"] == ["photo-00000-of-00002.tfrecord",
                                                                "photo-00001-of-00002.tfrecord"]
    assert info["skipped"] == result.skipped


@pytest.mark.parametrize("changes, field, message", [
    (dict(image_size=0), "image_size", "image_size must be >= 1, got 0"),
    (dict(num_shards=0), "num_shards", "num_shards must be >= 1, got 0"),
    (dict(workers=0), "workers", "workers must be >= 1, got 0"),
    (dict(photo_format="gif"), "photo_format", "photo_format must be one of jpg, png, got 'gif'"),
    (dict(photos="missing/"), "photos", "photos missing/: no such folder"),
    (dict(photos="tfds:photo2anime"), "tfds_data_dir", "photos tfds:photo2anime needs tfds_data_dir, the folder"),
])
def test_bad_options_name_their_field_before_any_work(sources, tmp_path, changes, field, message):
    with pytest.raises(ParameterError) as error:
        build_dataset(options(sources, tmp_path / "out", **changes))
    assert error.value.field == field and str(error.value).startswith(message)
    assert not (tmp_path / "out").exists()


def test_an_existing_dataset_is_kept_unless_overwrite(sources, tmp_path):
    out = tmp_path / "out"
    build_dataset(options(sources, out))
    with pytest.raises(ParameterError, match="already holds a dataset .*: set overwrite to replace it"):
        plan_build(options(sources, out))
    assert build_dataset(options(sources, out, num_shards=1, overwrite=True)).counts == {"photo": 3, "anime": 3}
    assert sorted(os.listdir(out)) == ["anime-00000-of-00001.tfrecord", "dataset.json", "photo-00000-of-00001.tfrecord"]


def test_parallel_workers_write_the_same_records(sources, tmp_path):
    (sources[0] / "sub" / "corrupt.jpg").unlink()
    assert build_dataset(options(sources, tmp_path / "one", workers=1)).skipped == []
    assert build_dataset(options(sources, tmp_path / "two", workers=2)).skipped == []
    for family in ("photo", "anime"):
        for a, b in zip(family_files(tmp_path / "one", family), family_files(tmp_path / "two", family), strict=True):
            assert open(a, "rb").read() == open(b, "rb").read()


# --- leftovers of killed builds, workers of a killed build -------------------------------------


def test_leftovers_of_a_killed_build_are_removed_but_a_running_build_is_left_alone(sources, tmp_path):
    (sources[0] / "sub" / "corrupt.jpg").unlink()
    out = tmp_path / "out"
    abandoned = out / ".partial-build-killed"
    abandoned.mkdir(parents=True)
    (abandoned / "photo-00000-of-00002.tfrecord.partial").write_bytes(b"half a shard")
    (out / ".dataset.json.partial-x1y2").write_text('{"photo":')  # from a build before staged dataset.json
    running = out / ".partial-build-running"
    running.mkdir()
    lock = lock_directory(str(running))  # what a live build holds on its staging folder
    try:
        lines = []
        assert build_dataset(options(sources, out), log=lines.append).skipped == []
    finally:
        os.close(lock)
    err = "\n".join(lines)
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
from cartoongan.data import build
make_example = tfrecords.photo_example
def slow_example(*args):
    time.sleep(0.25)
    return make_example(*args)
tfrecords.photo_example = slow_example
if sys.argv[1] == "spawn":  # where there is no forkserver (macOS, Windows)
    build._worker_context = lambda: multiprocessing.get_context("spawn")
photos, anime, output = sys.argv[2:]
build.build_dataset(build.BuildOptions(photos, anime, output, workers=2))
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
def test_killed_build_leaves_no_workers_and_the_next_build_cleans_up(tmp_path, start_method):
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
    build_process = subprocess.Popen([sys.executable, "-c", _SLOW_BUILD, start_method, str(photos), str(anime), str(out)],
                                     cwd=PROJECT_ROOT,
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
    lines = []
    build_dataset(BuildOptions(str(photos), str(anime), str(out)), log=lines.append)
    assert lines == [f"removed {leftover}, left by a build that was stopped"]
    assert not list(out.glob(".partial-*")) and (out / "dataset.json").is_file()
