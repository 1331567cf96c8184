import numpy as np
import pytest
import tensorflow as tf

from cartoongan.data.pipeline import training_dataset
from cartoongan.data.tfrecords import anime_example, encode_image, photo_example, write_shards
from cartoongan.errors import ParameterError

SIZE = 8


@pytest.fixture
def data_dir(tmp_path):
    """4 photo shards of distinct flat colours plus noise (which file a crop came from is
    visible in its mean) and 2 anime shards whose smoothed copy is 255 - anime."""
    rng = np.random.default_rng(0)
    photos = []
    for i in range(12):
        shape = (int(rng.integers(SIZE, 20)), int(rng.integers(SIZE, 20)), 3)
        if i == 5:
            shape = (5, 7, 3)  # smaller than the crop: enlarged first
        base = np.full(shape, 20 * i, np.int64)
        photos.append(np.clip(base + rng.integers(0, 3, shape), 0, 255).astype(np.uint8))
    write_shards([photo_example(encode_image(p), *p.shape[:2]) for p in photos], tmp_path / "photo", 4)
    animes = [rng.integers(0, 256, (int(rng.integers(4, 16)), int(rng.integers(4, 16)), 3), dtype=np.uint8)
              for _ in range(6)]
    write_shards([anime_example(encode_image(a), encode_image(255 - a), *a.shape[:2]) for a in animes],
                 tmp_path / "anime", 2)
    return tmp_path


def take(dataset, count):
    return [{k: v.numpy() for k, v in batch.items()} for batch in dataset.take(count)]


def test_batches_shapes_range_and_spec(data_dir):
    dataset = training_dataset(data_dir, batch_size=3, image_size=SIZE, seed=0, shuffle_buffer=8)
    spec = tf.TensorSpec([3, SIZE, SIZE, 3], tf.float32)
    assert dataset.element_spec == {"photo": spec, "anime": spec, "anime_smooth": spec}
    for batch in take(dataset, 10):  # 30 elements > 12 photos: the stream repeats
        for value in batch.values():
            assert value.shape == (3, SIZE, SIZE, 3) and value.dtype == np.float32
            assert value.min() >= -1.0 and value.max() <= 1.0


def test_anime_and_smooth_get_the_same_crop_and_flip(data_dir):
    dataset = training_dataset(data_dir, batch_size=4, image_size=SIZE, seed=3, shuffle_buffer=8)
    for batch in take(dataset, 6):
        # smooth = 255 - anime maps to -anime in [-1, 1]; bilinear enlarging keeps that
        np.testing.assert_allclose(batch["anime_smooth"], -batch["anime"], atol=1e-5)


def test_same_seed_same_batches_other_seed_other_crops(data_dir):
    first = take(training_dataset(data_dir, batch_size=2, image_size=SIZE, seed=7, shuffle_buffer=8), 5)
    again = take(training_dataset(data_dir, batch_size=2, image_size=SIZE, seed=7, shuffle_buffer=8), 5)
    other = take(training_dataset(data_dir, batch_size=2, image_size=SIZE, seed=8, shuffle_buffer=8), 5)
    for a, b in zip(first, again):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a["anime"], c["anime"]) for a, c in zip(first, other))


def test_crops_and_flips_vary_from_element_to_element(tmp_path):
    # one horizontal-gradient anime image, read again and again: crops and flips must differ
    gradient = np.tile(np.arange(0, 240, 10, dtype=np.uint8)[None, :, None], (SIZE + 4, 1, 3))
    write_shards([photo_example(encode_image(gradient), *gradient.shape[:2])], tmp_path / "photo", 1)
    write_shards([anime_example(encode_image(gradient), encode_image(gradient), *gradient.shape[:2])],
                 tmp_path / "anime", 1)
    batch = take(training_dataset(tmp_path, batch_size=16, image_size=SIZE, seed=0, shuffle_buffer=1), 1)[0]
    rows = batch["anime"][:, 0, :, 0]
    increasing = rows[:, -1] > rows[:, 0]
    assert increasing.any() and (~increasing).any(), "some crops flipped, some not"
    assert len({row.min() for row in rows}) > 3, "crop windows vary"


def test_input_context_shards_files_and_splits_the_batch(data_dir):
    means = []
    for pipeline_id in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline_id,
                                             num_replicas_in_sync=2)
        dataset = training_dataset(data_dir, batch_size=4, image_size=SIZE, seed=0, shuffle_buffer=8,
                                   input_context=context)
        assert dataset.element_spec["photo"].shape == (2, SIZE, SIZE, 3)
        photos = np.concatenate([b["photo"] for b in take(dataset, 12)])
        # photo i is flat 20 * i (+ noise); shard files k, k + 2 hold photos k, k + 4, k + 8, ...
        means.append({int(round((p.mean() + 1) * 127.5 / 20)) for p in photos})
    assert means[0] and means[1] and not means[0] & means[1]
    assert means[0] | means[1] == set(range(12))


def test_missing_files_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="photo-"):
        training_dataset(tmp_path, batch_size=2, image_size=SIZE, seed=0)


def _corrupt(path):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 16] = b"\xff" * 16  # inside a record: its CRC no longer matches
    path.write_bytes(bytes(data))


def test_a_corrupt_shard_is_found_and_named(data_dir):
    from cartoongan.data.pipeline import find_bad_shard

    assert find_bad_shard(data_dir) is None
    shard = sorted(data_dir.glob("anime-*.tfrecord"))[1]
    _corrupt(shard)
    path, reason = find_bad_shard(data_dir)
    assert path == str(shard) and reason


def test_check_data_dir_refuses_missing_empty_and_one_sided_folders(data_dir, tmp_path):
    from cartoongan.data.pipeline import check_data_dir

    check_data_dir(data_dir)
    with pytest.raises(ParameterError, match="^data .*missing: no such folder") as error_info:
        check_data_dir(tmp_path / "missing")
    assert error_info.value.field == "data"  # TrainConfig's field: the train CLI names it --data
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no photo-"):
        check_data_dir(tmp_path / "empty")
    for shard in data_dir.glob("anime-*.tfrecord"):
        shard.unlink()
    with pytest.raises(ValueError, match="no anime-"):
        check_data_dir(data_dir)
