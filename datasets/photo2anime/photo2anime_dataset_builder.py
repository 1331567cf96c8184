"""photo2anime: a tensorflow-datasets builder over local folders of photos and anime images.

    tfds build datasets/photo2anime --manual_dir DIR --data_dir ~/tensorflow_datasets

DIR holds `photos/` and `anime/` (searched recursively). Nothing is downloaded. The built
dataset has two splits, `photo` and `anime`, with the same features: `image` (RGB) and
`filename` (the path below its folder). tools/build_tfrecords.py reads it back with
`--photos tfds:photo2anime --tfds-split photo --tfds-data-dir ~/tensorflow_datasets`.
"""

import os

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from PIL import Image

from cartoongan.images import list_images

SPLIT_FOLDERS = {"photo": "photos", "anime": "anime"}


class Builder(tfds.core.GeneratorBasedBuilder):
    """Photos and anime images from local folders, one split each."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Put the images in `manual_dir` as `photos/` (e.g. COCO's train2017/) and `anime/`
    (anime frames or art you may train on); subfolders are searched.
    """

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "filename": tfds.features.Text(),
            }),
            supervised_keys=None,
            homepage="https://github.com/",
        )

    def _split_generators(self, dl_manager):
        root = dl_manager.manual_dir
        for folder in SPLIT_FOLDERS.values():
            if not (root / folder).is_dir():
                raise FileNotFoundError(f"{root / folder} is missing: {self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        return {split: self._generate_examples(root / folder) for split, folder in SPLIT_FOLDERS.items()}

    def _generate_examples(self, folder):
        folder = os.fspath(folder)
        for path in list_images(folder):  # the project's one folder walk: same files, same order
            key = os.path.relpath(path, folder)
            image = _rgb_image_or_path(path)
            if image is None:
                logging.warning("photo2anime: %s is unreadable, skipped", path)
                continue
            yield key, {"image": image, "filename": key}


def _rgb_image_or_path(path):
    """RGB JPEG/PNG files are stored as they are (their bytes); other modes and formats are
    converted to RGB (stored as PNG); None for an unreadable file."""
    try:
        with Image.open(path) as image:
            if image.mode == "RGB" and image.format in ("JPEG", "PNG"):
                image.verify()
                return path
            image.load()
            return np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError):
        return None
