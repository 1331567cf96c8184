"""Upstream CartoonGAN style -> preset: fetch every tensor, verify, convert, cache."""

import os
import shutil
from importlib import resources

import numpy as np

from cartoongan.weights.download import DownloadError, fetch_verified, join_url


def upstream_manifest():
    """{style: {tensor file name: sha256}} for the four upstream styles, shipped in the package."""
    manifest = {}
    text = resources.files("cartoongan.weights").joinpath("cartoongan_sha256.txt").read_text()
    for line in text.splitlines():
        if line.strip():
            sha256, path = line.split()
            style, filename = path.split("/")
            manifest.setdefault(style, {})[filename] = sha256
    return manifest


def fetch_upstream_tensors(style, base_url, workdir, progress=None):
    """Downloads and verifies the 94 tensors of `style`; returns {tensor name: array}."""
    files = upstream_manifest().get(style)
    if files is None:
        raise ValueError(f"no upstream weights for style {style!r}")
    tensors = {}
    for filename, sha256 in sorted(files.items()):
        local = os.path.join(workdir, filename)
        location = join_url(base_url, f"{style}/{filename}")
        fetch_verified(location, local, sha256)
        try:
            tensors[filename[: -len(".npy")]] = np.load(local, allow_pickle=False)
        except ValueError as error:
            raise DownloadError(f"{location} is not a valid .npy file: {error}") from error
        if progress is not None:
            progress(filename)
    return tensors


def upstream_generator(style, base_url, download_dir):
    """The CartoonGAN generator of an upstream style, from its verified files (downloaded into
    `download_dir`, which is removed afterwards), and its preset metadata."""
    from cartoongan.models import CartoonGanGenerator
    from cartoongan.presets import STYLES
    from cartoongan.weights.upstream import load_upstream_weights

    from tqdm.auto import tqdm

    with tqdm(total=len(upstream_manifest()[style]), desc=f"fetching {style}", unit="file", leave=False) as bar:
        tensors = fetch_upstream_tensors(style, base_url, download_dir, progress=lambda _: bar.update())
    shutil.rmtree(download_dir)
    generator = CartoonGanGenerator()
    load_upstream_weights(generator, tensors)
    where = base_url if "://" in base_url else "a local mirror"
    metadata = {"name": style, "source": f"upstream CartoonGAN weights from {where}, every file checked "
                                         f"against the sha256 in cartoongan/weights/cartoongan_sha256.txt",
                "license": STYLES[style].license}
    return generator, STYLES[style].preprocessing, metadata


def fetch_and_convert_style(style, base_url, preset_dir, keep_existing=True, weights_dtype="float32"):
    """Builds the preset of an upstream style in `preset_dir`, atomically. The files are
    downloaded into the preset's own temporary folder (a killed fetch leaves a
    `.NAME.partial-PID-*` folder that the next one removes).

    keep_existing: a cache entry, published at most once: when another process publishes the
    same style first, its copy is kept. Otherwise `preset_dir` is replaced (e.g. the float16
    `pretrained/hayao` shipped with the project, weights_dtype="float16")."""
    from cartoongan.atomic import atomic_directory
    from cartoongan.presets import preset_config, write_preset_files

    with atomic_directory(preset_dir, keep_existing=keep_existing) as tmp:
        generator, preprocessing, metadata = upstream_generator(style, base_url, os.path.join(tmp, "download"))
        if weights_dtype != "float32":
            metadata["weights_dtype"] = weights_dtype
        write_preset_files(generator, tmp, preset_config(generator, preprocessing, **metadata))
    return preset_dir
