"""Sharded TFRecords of training examples: the feature keys, writing and parsing.

Two file families live side by side in a dataset folder:

- `photo-00000-of-000NN.tfrecord`: IMAGE (PNG or JPEG bytes), HEIGHT, WIDTH;
- `anime-00000-of-000NN.tfrecord`: IMAGE and SMOOTH (the anime image and its edge-smoothed
  copy, both PNG, same size), HEIGHT, WIDTH.
"""

import glob
import os

import tensorflow as tf

from cartoongan.data.encoding import encode_image  # noqa: F401  (part of this module's interface)

# === Feature keys: the one place they are spelled ===
IMAGE = "image"
SMOOTH = "smooth"
HEIGHT = "height"
WIDTH = "width"

PHOTO = "photo"
ANIME = "anime"
FAMILIES = (PHOTO, ANIME)
SHARD_SUFFIX = "-%05d-of-%05d.tfrecord"


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int64(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def photo_example(encoded_image, height, width):
    return tf.train.Example(features=tf.train.Features(feature={
        IMAGE: _bytes(encoded_image), HEIGHT: _int64(height), WIDTH: _int64(width)}))


def anime_example(encoded_image, encoded_smooth, height, width):
    return tf.train.Example(features=tf.train.Features(feature={
        IMAGE: _bytes(encoded_image), SMOOTH: _bytes(encoded_smooth),
        HEIGHT: _int64(height), WIDTH: _int64(width)}))


def shard_paths(output_prefix, num_shards):
    return [output_prefix + SHARD_SUFFIX % (i, num_shards) for i in range(num_shards)]


def family_files(data_dir, family):
    """The sorted shard files of one family (`photo` or `anime`) in `data_dir`."""
    return sorted(glob.glob(os.path.join(glob.escape(str(data_dir)), f"{family}-?????-of-?????.tfrecord")))


def write_shards(examples, output_prefix, num_shards):
    """Writes `examples` (tf.train.Example or serialized bytes) round-robin into
    `output_prefix-%05d-of-%05d.tfrecord`; returns (paths, count).

    The shards are written under `.partial` names and renamed into place only once all
    are complete, so an interrupted run leaves no shard that looks finished."""
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    paths = shard_paths(os.fspath(output_prefix), num_shards)
    partials = [path + ".partial" for path in paths]
    writers = []
    count = 0
    try:
        for partial in partials:
            writers.append(tf.io.TFRecordWriter(partial))
        for count, example in enumerate(examples, start=1):
            if isinstance(example, tf.train.Example):
                example = example.SerializeToString()
            writers[(count - 1) % num_shards].write(example)
        for writer in writers:
            writer.close()
        for partial, path in zip(partials, paths):
            os.replace(partial, path)
    finally:
        for writer in writers:
            writer.close()
        for partial in partials:
            if os.path.exists(partial):
                os.remove(partial)
    return paths, count


_PHOTO_FEATURES = {
    IMAGE: tf.io.FixedLenFeature([], tf.string),
    HEIGHT: tf.io.FixedLenFeature([], tf.int64),
    WIDTH: tf.io.FixedLenFeature([], tf.int64),
}
_ANIME_FEATURES = dict(_PHOTO_FEATURES, **{SMOOTH: tf.io.FixedLenFeature([], tf.string)})


def _decode(encoded, height, width):
    image = tf.io.decode_image(encoded, channels=3, dtype=tf.uint8, expand_animations=False)
    # checks the stored size and gives the decoder's output a known rank and channel count
    image = tf.reshape(image, tf.stack([tf.cast(height, tf.int32), tf.cast(width, tf.int32), 3]))
    image.set_shape([None, None, 3])
    return image


def parse_photo(serialized):
    """A serialized photo example -> uint8 [H, W, 3] RGB."""
    features = tf.io.parse_single_example(serialized, _PHOTO_FEATURES)
    return _decode(features[IMAGE], features[HEIGHT], features[WIDTH])


def parse_anime(serialized):
    """A serialized anime example -> (anime, smooth): uint8 [H, W, 3] RGB each, same size."""
    features = tf.io.parse_single_example(serialized, _ANIME_FEATURES)
    height, width = features[HEIGHT], features[WIDTH]
    return _decode(features[IMAGE], height, width), _decode(features[SMOOTH], height, width)
