"""Where training images come from, and how one becomes an example's encoded images.

The `prepare_*` functions run in worker processes: they take a file path or encoded bytes
and return encoded images, or raise ImageReadError naming the source. This module does not
import TensorFlow (only `open_tfds` / `tfds_images`, in the main process, do).
"""

import io

from cartoongan.data.edge_smoothing import edge_smooth
from cartoongan.data.encoding import encode_image
from cartoongan.errors import ParameterError
from cartoongan.images import ImageReadError, read_image, resize_to_max

TFDS_PREFIX = "tfds:"


def load(name, source):
    """`source`: a path or encoded bytes -> uint8 RGB; ImageReadError names `name`."""
    if isinstance(source, (bytes, bytearray)):
        try:
            return read_image(io.BytesIO(source))[0]
        except ImageReadError as error:
            raise ImageReadError(f"{name}: cannot read image ({error.__cause__})") from error
    return read_image(source)[0]


def prepare_photo(name, source, image_size, image_format):
    """-> (encoded photo, height, width)."""
    rgb = resize_to_max(load(name, source), image_size, side="short")[0]
    return encode_image(rgb, image_format), rgb.shape[0], rgb.shape[1]


def prepare_anime(name, source, image_size):
    """-> (encoded anime PNG, encoded edge-smoothed PNG, height, width); smoothed after the
    resize, so that the blurred band has the width it will have in training."""
    rgb = resize_to_max(load(name, source), image_size, side="short")[0]
    return encode_image(rgb, "png"), encode_image(edge_smooth(rgb), "png"), rgb.shape[0], rgb.shape[1]


def open_tfds(name, data_dir, split, image_key):
    """The prepared tensorflow-datasets builder `name` in `data_dir` (never downloads) ->
    (builder, number of examples in `split`); a ParameterError names what is missing by the
    `BuildOptions` field that asked for it (photos, tfds_split, tfds_image_key)."""
    source = TFDS_PREFIX + name
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise ParameterError("photos", "{name} {source} needs tensorflow-datasets: pip install tensorflow-datasets",
                             source=source) from error
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # DatasetNotFoundError and friends: the message says why
        reason = str(error).splitlines()[0]  # the rest lists every dataset tfds knows
        raise ParameterError("photos", "{name} {source}: not found in {data_dir} ({reason})", source=source,
                             data_dir=data_dir, reason=reason) from error
    if not builder.is_prepared():
        raise ParameterError("photos", "{name} {source}: not prepared in {data_dir} (prepare it there first, "
                             "e.g. `tfds build`; nothing is downloaded here)", source=source, data_dir=data_dir)
    if split not in builder.info.splits:
        raise ParameterError("tfds_split", "{name} {split}: {dataset} has splits {splits}", split=split,
                             dataset=name, splits=sorted(builder.info.splits))
    if image_key not in builder.info.features:
        raise ParameterError("tfds_image_key", "{name} {key}: {dataset} has features {features}", key=image_key,
                             dataset=name, features=sorted(builder.info.features))
    return builder, builder.info.splits[split].num_examples


def tfds_images(builder, split, image_key):
    """Yields (name, encoded image bytes) of every example of `split`, in order; the images
    are not decoded here (the workers do it)."""
    import tensorflow_datasets as tfds

    dataset = builder.as_dataset(split=split, shuffle_files=False,
                                 decoders={image_key: tfds.decode.SkipDecoding()})
    label = f"{TFDS_PREFIX}{builder.info.full_name}[{split}]"
    for index, example in enumerate(dataset.as_numpy_iterator()):
        yield f"{label}#{index}", example[image_key]
