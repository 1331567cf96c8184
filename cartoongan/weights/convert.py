"""Upstream CartoonGAN style -> generator: fetch every tensor, verify, convert. Writing it as a
preset (and caching it) is `cartoongan.presets.convert_upstream_style`'s job."""

import os
import shutil
from importlib import resources

import numpy as np

from cartoongan.weights.download import DownloadError, fetch_verified, join_url
from cartoongan.weights.styles import UPSTREAM_LICENSE


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
    `download_dir`, which is removed afterwards), and its preset metadata; it takes
    `UPSTREAM_CHANNEL_ORDER` images."""
    from tqdm.auto import tqdm

    from cartoongan.models import CartoonGanGenerator
    from cartoongan.weights.upstream import load_upstream_weights

    with tqdm(total=len(upstream_manifest()[style]), desc=f"fetching {style}", unit="file", leave=False) as bar:
        tensors = fetch_upstream_tensors(style, base_url, download_dir, progress=lambda _: bar.update())
    shutil.rmtree(download_dir)
    generator = CartoonGanGenerator()
    load_upstream_weights(generator, tensors)
    where = base_url if "://" in base_url else "a local mirror"
    metadata = {"name": style, "source": f"upstream CartoonGAN weights from {where}, every file checked "
                                         f"against the sha256 in cartoongan/weights/cartoongan_sha256.txt",
                "license": UPSTREAM_LICENSE}
    return generator, metadata
