"""Upstream CartoonGAN style -> preset: fetch every tensor, verify, convert, cache."""

import os
import tempfile
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


def fetch_and_convert_style(style, base_url, preset_dir):
    """Builds the preset of an upstream style in `preset_dir` (atomically)."""
    from cartoongan.models import CartoonGanGenerator
    from cartoongan.presets import STYLES, save_preset
    from cartoongan.weights.upstream import load_upstream_weights

    from tqdm.auto import tqdm

    with tempfile.TemporaryDirectory(prefix=f"cartoongan-{style}-") as workdir:
        with tqdm(total=len(upstream_manifest()[style]), desc=f"fetching {style}", unit="file", leave=False) as bar:
            tensors = fetch_upstream_tensors(style, base_url, workdir, progress=lambda _: bar.update())
    generator = CartoonGanGenerator()
    load_upstream_weights(generator, tensors)
    return save_preset(
        generator,
        preset_dir,
        STYLES[style].preprocessing,
        name=style,
        source=f"upstream CartoonGAN weights from {base_url}",
        license=STYLES[style].license,
    )
