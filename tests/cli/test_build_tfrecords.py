"""The build_tfrecords command line: flags, what it reports, its exit codes (the engine:
tests/data/test_build.py)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from cartoongan.cli.build_tfrecords import main
from cartoongan.data import edge_smooth
from cartoongan.data.tfrecords import family_files, parse_anime, parse_photo
from tests.data.test_build import make_sources


@pytest.fixture
def sources(tmp_path):
    return make_sources(tmp_path)


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


@pytest.mark.parametrize("flags, message", [
    (["--image-size", "0"], "--image-size must be >= 1"),
    (["--num-shards", "0"], "--num-shards must be >= 1"),
    (["--photos", "missing/"], "no such folder"),
    (["--photos", "tfds:photo2anime"], "--photos tfds:photo2anime needs --tfds-data-dir"),
    (["--photo-format", "gif"], "invalid choice"),
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


def test_a_bad_flag_is_reported_without_tensorflows_start_up_chatter(tmp_path):
    """The check of --output loads TensorFlow (the shard names live in data.tfrecords): the
    CLI must have imported it quietly first, or absl's lines bury the one that matters."""
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    result = subprocess.run([sys.executable, "-m", "cartoongan.cli.build_tfrecords", "--photos", str(tmp_path),
                             "--anime", str(tmp_path), "--output", str(tmp_path / "out")],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("usage:"), result.stderr[:500]
    assert result.stderr.splitlines()[-1].endswith(f"--photos {tmp_path}: no images found")
