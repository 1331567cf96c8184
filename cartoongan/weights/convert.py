"""A style of the table (`cartoongan.weights.styles`) -> generator: fetch every file, verify
its sha256, convert with the family's converter. Writing it as a preset (and caching it) is
`cartoongan.presets.convert_upstream_style`'s job."""

import os
import shutil
from importlib import resources

import numpy as np

from cartoongan.weights.download import DownloadError, fetch_verified, join_url
from cartoongan.weights.styles import CARTOONGAN_MANIFEST, STYLE_TABLE


def upstream_manifest():
    """{style: {tensor file name: sha256}} for the four CartoonGAN styles, shipped in the package."""
    manifest = {}
    text = resources.files("cartoongan.weights").joinpath(CARTOONGAN_MANIFEST).read_text()
    for line in text.splitlines():
        if line.strip():
            sha256, path = line.split()
            style, filename = path.split("/")
            manifest.setdefault(style, {})[filename] = sha256
    return manifest


def style_files(style):
    """{file name: sha256} of a style of the table."""
    if style not in STYLE_TABLE:
        raise ValueError(f"no downloadable weights for style {style!r}")
    return dict(STYLE_TABLE[style].files) or upstream_manifest()[style]


def file_location(style, filename, mirror=None):
    """Where a style's file is fetched from: `<mirror>/<style>/<file>` when a mirror is given
    (CARTOONGAN_WEIGHTS_URL), else the row's upstream folder."""
    if mirror:
        return join_url(mirror, f"{style}/{filename}")
    return join_url(STYLE_TABLE[style].source_url, filename)


def fetch_style_files(style, mirror, workdir, progress=None):
    """Downloads and verifies every file of `style` into `workdir`; returns {file name: path}."""
    paths = {}
    for filename, sha256 in sorted(style_files(style).items()):
        local = os.path.join(workdir, filename)
        fetch_verified(file_location(style, filename, mirror), local, sha256)
        paths[filename] = local
        if progress is not None:
            progress(filename)
    return paths


def _cartoongan(paths):
    from cartoongan.models import CartoonGanGenerator
    from cartoongan.weights.upstream import load_upstream_weights

    tensors = {}
    for filename, path in paths.items():
        try:
            tensors[filename[: -len(".npy")]] = np.load(path, allow_pickle=False)
        except ValueError as error:
            raise DownloadError(f"{filename} is not a valid .npy file: {error}") from error
    generator = CartoonGanGenerator()
    load_upstream_weights(generator, tensors)
    return generator


def _single_tflite(paths):
    (path,) = paths.values()
    return path


def _whitebox(paths):
    from cartoongan.models import WhiteboxGenerator
    from cartoongan.weights.tflite_convert import load_whitebox_tflite

    generator = WhiteboxGenerator()
    load_whitebox_tflite(generator, _single_tflite(paths))
    return generator


def _animegan_v2(paths):
    from cartoongan.models import AnimeGanV2Generator
    from cartoongan.weights.tflite_convert import load_animegan_v2_tflite

    generator = AnimeGanV2Generator()
    load_animegan_v2_tflite(generator, _single_tflite(paths))
    return generator


# family -> converter: {file name: verified local path} -> generator with every variable set.
CONVERTERS = {"cartoongan": _cartoongan, "whitebox": _whitebox, "animegan_v2": _animegan_v2}


def upstream_generator(style, base_url, download_dir):
    """The generator of a style of the table, from its verified files (downloaded into
    `download_dir`, which is removed afterwards), and its preset metadata. `base_url`: a
    mirror laid out as `<style>/<file>`, or None for the upstream sources."""
    from tqdm.auto import tqdm

    row = STYLE_TABLE[style]
    with tqdm(total=len(style_files(style)), desc=f"fetching {style}", unit="file", leave=False) as bar:
        paths = fetch_style_files(style, base_url, download_dir, progress=lambda _: bar.update())
    generator = CONVERTERS[row.family](paths)
    shutil.rmtree(download_dir)
    where = (base_url if "://" in base_url else "a local mirror") if base_url else row.source_url
    checked = f"the sha256 in cartoongan/weights/{CARTOONGAN_MANIFEST}" if not row.files else \
        ", ".join(f"sha256 {sha} ({name})" for name, sha in row.files.items())
    metadata = {"name": style, "description": row.description,
                "source": f"{row.details} Fetched from {where}, every file checked against {checked}.",
                "license": row.license}
    return generator, metadata
