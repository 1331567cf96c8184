import os

import numpy as np
import pytest
import tensorflow as tf

from cartoongan.data import tfrecords
from cartoongan.data.tfrecords import (
    anime_example,
    encode_image,
    family_files,
    parse_anime,
    parse_photo,
    photo_example,
    write_shards,
)


def random_images(count, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (int(rng.integers(3, 12)), int(rng.integers(3, 12)), 3), dtype=np.uint8)
            for _ in range(count)]


def read_all(paths, parse):
    return list(tf.data.TFRecordDataset(paths).map(parse).as_numpy_iterator())


def test_photo_shards_round_trip_every_value(tmp_path):
    images = random_images(7)
    examples = [photo_example(encode_image(rgb), *rgb.shape[:2]) for rgb in images]
    paths, count = write_shards(examples, tmp_path / "photo", num_shards=3)
    assert count == 7
    assert [os.path.basename(p) for p in paths] == [
        "photo-00000-of-00003.tfrecord", "photo-00001-of-00003.tfrecord", "photo-00002-of-00003.tfrecord"]
    assert family_files(tmp_path, "photo") == sorted(paths)
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in paths)  # no partials left
    # round-robin: shard k holds examples k, k + 3, ...
    decoded = [read_all([path], parse_photo) for path in paths]
    assert [len(d) for d in decoded] == [3, 2, 2]
    for shard, records in enumerate(decoded):
        for i, image in enumerate(records):
            np.testing.assert_array_equal(image, images[shard + 3 * i])  # PNG: exact
    raw = next(iter(tf.data.TFRecordDataset(paths[0])))
    features = tf.train.Example.FromString(raw.numpy()).features.feature
    assert features[tfrecords.HEIGHT].int64_list.value[0] == images[0].shape[0]
    assert features[tfrecords.WIDTH].int64_list.value[0] == images[0].shape[1]


def test_anime_shards_round_trip_image_and_smooth(tmp_path):
    images = random_images(4, seed=1)
    smooths = [255 - rgb for rgb in images]
    examples = [anime_example(encode_image(a), encode_image(s), *a.shape[:2]) for a, s in zip(images, smooths)]
    paths, count = write_shards(iter(examples), str(tmp_path / "anime"), num_shards=1)
    assert count == 4 and family_files(tmp_path, "anime") == paths
    records = read_all(paths, parse_anime)
    for (anime, smooth), image, expected_smooth in zip(records, images, smooths):
        np.testing.assert_array_equal(anime, image)
        np.testing.assert_array_equal(smooth, expected_smooth)


def test_parsers_give_uint8_with_static_channels(tmp_path):
    rgb = random_images(1)[0]
    paths, _ = write_shards([photo_example(encode_image(rgb, "jpg"), *rgb.shape[:2])], tmp_path / "photo", 1)
    dataset = tf.data.TFRecordDataset(paths).map(parse_photo)
    assert dataset.element_spec == tf.TensorSpec([None, None, 3], tf.uint8)
    image = next(iter(dataset)).numpy()
    assert image.shape == rgb.shape  # JPEG: the size, not the pixels
    paths, _ = write_shards([anime_example(encode_image(rgb), encode_image(rgb), *rgb.shape[:2])], tmp_path / "anime", 1)
    spec = tf.data.TFRecordDataset(paths).map(parse_anime).element_spec
    assert spec == (tf.TensorSpec([None, None, 3], tf.uint8),) * 2


def test_stored_size_must_match_the_image(tmp_path):
    rgb = random_images(1)[0]
    paths, _ = write_shards([photo_example(encode_image(rgb), rgb.shape[0] + 1, rgb.shape[1])], tmp_path / "photo", 1)
    with pytest.raises(tf.errors.InvalidArgumentError):
        read_all(paths, parse_photo)


def test_failed_write_leaves_no_files(tmp_path):
    def examples():
        rgb = random_images(1)[0]
        yield photo_example(encode_image(rgb), *rgb.shape[:2])
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        write_shards(examples(), tmp_path / "photo", num_shards=2)
    assert os.listdir(tmp_path) == []


def test_empty_shards_and_bad_counts(tmp_path):
    paths, count = write_shards([], tmp_path / "photo", num_shards=2)
    assert count == 0 and all(os.path.exists(p) for p in paths)
    with pytest.raises(ValueError, match="num_shards"):
        write_shards([], tmp_path / "photo", num_shards=0)
    with pytest.raises(ValueError, match="unknown image format"):
        encode_image(random_images(1)[0], "gif")
