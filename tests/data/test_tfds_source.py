"""Photos read from a tensorflow-datasets dataset: the photo2anime builder, built locally."""

import importlib.util
import json
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from cartoongan.cli.build_tfrecords import main
from cartoongan.data.tfrecords import family_files, parse_photo
from tests.conftest import PROJECT_ROOT, required_module

tfds = required_module("tensorflow_datasets")


def load_builder_class():
    """datasets/photo2anime imported as the package `photo2anime`, as `tfds build` does
    (not as `datasets.…`: that name may belong to another installed library)."""
    folder = PROJECT_ROOT / "datasets" / "photo2anime"
    if "photo2anime" not in sys.modules:
        spec = importlib.util.spec_from_file_location("photo2anime", folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        package = importlib.util.module_from_spec(spec)
        sys.modules["photo2anime"] = package
        spec.loader.exec_module(package)
    return importlib.import_module("photo2anime.photo2anime_dataset_builder").Builder


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    """photo2anime prepared in a temporary data_dir from 3 photos (one greyscale, one
    corrupt one left out) and 2 anime images: no network."""
    root = tmp_path_factory.mktemp("photo2anime")
    rng = np.random.default_rng(0)
    photos, anime = root / "manual" / "photos", root / "manual" / "anime"
    (photos / "sub").mkdir(parents=True)
    anime.mkdir()
    images = {"a.png": rng.integers(0, 256, (10, 12, 3), dtype=np.uint8),
              "sub/b.png": rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)}
    for name, rgb in images.items():
        Image.fromarray(rgb).save(photos / name)
    grey = rng.integers(0, 256, (6, 8), dtype=np.uint8)
    Image.fromarray(grey).save(photos / "grey.png")
    images["grey.png"] = np.repeat(grey[..., None], 3, axis=-1)
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (9, 9, 3), dtype=np.uint8)).save(anime / f"x{i}.png")
    builder = load_builder_class()(data_dir=str(root / "data"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(root / "manual")))
    return root, images


def test_builder_yields_photo_and_anime_splits(tfds_dir):
    root, images = tfds_dir
    builder = tfds.builder("photo2anime", data_dir=str(root / "data"))
    assert builder.info.splits["photo"].num_examples == 3
    assert builder.info.splits["anime"].num_examples == 2
    photos = {ex["filename"].decode(): ex["image"] for ex in tfds.as_numpy(builder.as_dataset(split="photo"))}
    assert sorted(photos) == sorted(images)
    for name, rgb in images.items():
        np.testing.assert_array_equal(photos[name], rgb)


def test_build_tfrecords_reads_photos_from_tfds(tfds_dir, tmp_path):
    root, images = tfds_dir
    out = tmp_path / "out"
    code = main(["--photos", "tfds:photo2anime", "--tfds-data-dir", str(root / "data"), "--tfds-split", "photo",
                 "--anime", str(root / "manual" / "anime"), "--output", str(out), "--photo-format", "png",
                 "--workers", "1"])
    assert code == 0
    info = json.loads((out / "dataset.json").read_text())
    assert info["photo"]["examples"] == 3 and info["anime"]["examples"] == 2
    decoded = list(tf.data.TFRecordDataset(family_files(out, "photo")).map(parse_photo).as_numpy_iterator())
    key = lambda rgb: (rgb.shape, rgb.tobytes())  # noqa: E731
    assert sorted(map(key, decoded)) == sorted(map(key, images.values()))  # tfds order is its own


@pytest.mark.parametrize("flags, message", [
    (["--photos", "tfds:no_such_dataset_xyz"], "--photos tfds:no_such_dataset_xyz: not found"),
    (["--photos", "tfds:photo2anime", "--tfds-split", "train"], "--tfds-split train: photo2anime has splits ['anime', 'photo']"),
    (["--photos", "tfds:photo2anime", "--tfds-split", "photo", "--tfds-image-key", "img"], "--tfds-image-key img: "),
])
def test_bad_tfds_flags_fail_with_status_2(tfds_dir, tmp_path, capsys, flags, message):
    root, _ = tfds_dir
    with pytest.raises(SystemExit) as exit_info:
        main(["--tfds-data-dir", str(root / "data"), "--anime", str(root / "manual" / "anime"),
              "--output", str(tmp_path / "out"), *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
