"""The training input pipeline: sharded TFRecords -> batches of photo / anime / smoothed crops.

    dataset = training_dataset("data/photo2anime", batch_size=8, image_size=256, seed=0)
    batch = next(iter(dataset))  # {"photo", "anime", "anime_smooth"}: float32 [8, 256, 256, 3]

Everything random is a stateless op whose seed is folded from `seed`, the input pipeline and
the element's position in the stream, so a seed fixes the batches and the augmentation is
drawn afresh for every element (never frozen at trace time, never Python or numpy random).
"""

import tensorflow as tf

from cartoongan.data.tfrecords import ANIME, PHOTO, family_files, parse_anime, parse_photo
from cartoongan.errors import ParameterError

AUTOTUNE = tf.data.AUTOTUNE
DEFAULT_SHUFFLE_BUFFER = 1024
# Keep the photo and the anime streams' randomness apart when they share a seed.
_STREAM_IDS = {PHOTO: 1, ANIME: 2}


def training_dataset(data_dir, batch_size, image_size, seed, shuffle_buffer=DEFAULT_SHUFFLE_BUFFER,
                     input_context=None):
    """An infinite `tf.data.Dataset` of dicts {"photo", "anime", "anime_smooth"}: float32
    [B, image_size, image_size, 3], RGB in [-1, 1].

    `data_dir` holds `photo-*.tfrecord` and `anime-*.tfrecord` (tools/build_tfrecords.py).
    Each image gets a random `image_size` square crop and a random horizontal flip; an anime
    image and its smoothed copy get the same ones. Images whose short side is below
    `image_size` are first enlarged (bilinear, aspect kept). With a
    `tf.distribute.InputContext` (as given to `distribute_datasets_from_function`), B is
    the per-replica batch size and each input pipeline reads its own share of the files.
    """
    if batch_size < 1 or image_size < 1:
        raise ValueError(f"batch_size and image_size must be >= 1, got {batch_size} and {image_size}")
    pipeline_id, num_pipelines = 0, 1
    if input_context is not None:
        pipeline_id, num_pipelines = input_context.input_pipeline_id, input_context.num_input_pipelines
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    photos = _stream(data_dir, PHOTO, parse_photo, image_size, seed, shuffle_buffer, pipeline_id, num_pipelines)
    animes = _stream(data_dir, ANIME, parse_anime, image_size, seed, shuffle_buffer, pipeline_id, num_pipelines)
    dataset = tf.data.Dataset.zip((photos, animes)).batch(batch_size, drop_remainder=True)
    dataset = dataset.map(lambda photo, anime: {"photo": photo, "anime": anime[0], "anime_smooth": anime[1]})
    return dataset.prefetch(AUTOTUNE)


def _stream(data_dir, family, parse, image_size, seed, shuffle_buffer, pipeline_id, num_pipelines):
    files = family_files(data_dir, family)
    if not files:
        raise FileNotFoundError(f"{data_dir}: no {family}-*.tfrecord files (build them with tools/build_tfrecords.py)")
    dataset = tf.data.Dataset.from_tensor_slices(files)
    shard_files = num_pipelines > 1 and len(files) >= num_pipelines
    if shard_files:
        dataset = dataset.shard(num_pipelines, pipeline_id)
    # The file order and the record shuffle use the same seed on every pipeline, so that
    # sharding by record (fewer files than pipelines) still splits one common order.
    dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 16),
                                 num_parallel_calls=AUTOTUNE, deterministic=True)
    if num_pipelines > 1 and not shard_files:
        dataset = dataset.shard(num_pipelines, pipeline_id)
    dataset = dataset.shuffle(shuffle_buffer, seed=seed + _STREAM_IDS[family], reshuffle_each_iteration=True)
    dataset = dataset.repeat().enumerate()
    stream_seed = tf.constant([seed, _STREAM_IDS[family] * 65536 + pipeline_id], tf.int64)

    def decode_and_augment(index, serialized):
        element_seed = tf.random.experimental.stateless_fold_in(stream_seed, index)
        images = parse(serialized)
        if family == PHOTO:
            return random_crop_and_flip([images], image_size, element_seed)[0]
        return tuple(random_crop_and_flip(list(images), image_size, element_seed))

    return dataset.map(decode_and_augment, num_parallel_calls=AUTOTUNE, deterministic=True)


def random_crop_and_flip(images, size, seed):
    """Same-sized uint8 [H, W, 3] images -> float32 [size, size, 3] in [-1, 1], all cut with
    the same random window and flipped together. `seed`: a stateless seed, shape [2]."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    stacked = _cover(tf.concat(images, axis=-1), size)
    channels = 3 * len(images)
    stacked = tf.image.stateless_random_crop(stacked, [size, size, channels], crop_seed)
    stacked = tf.image.stateless_random_flip_left_right(stacked, flip_seed)
    stacked = tf.ensure_shape(stacked, [size, size, channels]) / 127.5 - 1.0
    return tf.split(stacked, len(images), axis=-1)


def _cover(image, size):
    """uint8 [H, W, C] -> float32 [H', W', C] with min(H', W') >= size: enlarged (aspect
    kept, bilinear) when the short side is smaller, otherwise the pixels unchanged."""
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    short = tf.minimum(height, width)

    def enlarge():
        scale = size / tf.cast(short, tf.float32)
        new_size = tf.cast(tf.round(tf.cast(tf.stack([height, width]), tf.float32) * scale), tf.int32)
        return tf.image.resize(tf.cast(image, tf.float32), tf.maximum(new_size, size), method="bilinear")

    return tf.cond(short < size, enlarge, lambda: tf.cast(image, tf.float32))


def find_bad_shard(data_dir):
    """-> (path, reason) of the first shard in `data_dir` that cannot be read and decoded to
    the end, or None. Reads everything: call it after a read error, to name the culprit."""
    for family, parse in ((PHOTO, parse_photo), (ANIME, parse_anime)):
        for path in family_files(data_dir, family):
            try:
                for _ in tf.data.TFRecordDataset(path).map(parse):
                    pass
            except tf.errors.OpError as error:
                return path, error.message.splitlines()[0] if error.message else type(error).__name__
    return None


def check_data_dir(data_dir):
    """Raises ParameterError (field `data`, TrainConfig's) unless `data_dir` is a folder with
    photo and anime shards."""
    import os

    if not os.path.isdir(data_dir):
        raise ParameterError("data", "{name} {path}: no such folder (build it with tools/build_tfrecords.py)",
                             path=data_dir)
    for family in (PHOTO, ANIME):
        files = family_files(data_dir, family)
        if not files:
            raise ParameterError("data", "{name} {path}: no {family}-*.tfrecord files (build them with "
                                 "tools/build_tfrecords.py)", path=data_dir, family=family)
        if all(os.path.getsize(path) == 0 for path in files):
            raise ParameterError("data", "{name} {path}: the {family} shards are empty (no records)", path=data_dir,
                                 family=family)
