"""Presets: a directory with `config.json` (generator class and config, preprocessing facts)
and `model.weights.h5`. A preset is named by a directory path or by a registered style name.

The four original CartoonGAN styles are registered here. On first use their upstream files
are fetched from `CARTOONGAN_WEIGHTS_URL`, checked against the sha256 manifest shipped in
the package, converted, and cached under `CARTOONGAN_HOME/presets/<style>/`. The cache entry
appears atomically (rename of a complete directory), so its presence means it is whole.
"""

import dataclasses
import json
import os
import warnings
from pathlib import Path

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
DEFAULT_WEIGHTS_URL = (
    "https://raw.githubusercontent.com/mnicnc404/CartoonGan-tensorflow/master/"
    "style_transfer/cartoongan/pretrained_weights"
)
PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How a generator's weights expect images: channel order and value range [-1, 1]."""

    channel_order: str = "RGB"  # "RGB" or "BGR"
    size_multiple: int = 4  # the generator's total stride; inputs are padded to it

    def __post_init__(self):
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order must be RGB or BGR, not {self.channel_order!r}")


@dataclasses.dataclass(frozen=True)
class Style:
    name: str
    description: str
    license: str
    preprocessing: Preprocessing


_UPSTREAM_LICENSE = (
    "weights by the CartoonGAN authors (Chen et al., CVPR 2018), as redistributed by "
    "mnicnc404/CartoonGan-tensorflow (Apache-2.0 repository); research use"
)
STYLES = {
    name: Style(name, f"CartoonGAN (Chen et al. 2018), {artist}", _UPSTREAM_LICENSE, Preprocessing("BGR"))
    for name, artist in (
        ("hayao", "Hayao Miyazaki style"),
        ("hosoda", "Mamoru Hosoda style"),
        ("paprika", "Paprika (Satoshi Kon) style"),
        ("shinkai", "Makoto Shinkai style"),
    )
}
# The default style, and what stands in for it when it is neither cached nor downloadable
# (offline, on a fresh clone): the small model distilled from it, shipped in pretrained/.
DEFAULT_STYLE = "hayao"
OFFLINE_DEFAULT = "hayao_lite"


def home_dir():
    return Path(os.environ.get("CARTOONGAN_HOME") or Path.home() / ".cache" / "cartoongan")


def weights_url():
    return os.environ.get("CARTOONGAN_WEIGHTS_URL") or DEFAULT_WEIGHTS_URL


def cached_preset_dir(style):
    return home_dir() / "presets" / style


def embedded_presets():
    """Names of the presets shipped in the repository's `pretrained/` folder."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / CONFIG_FILE).is_file())


def available_presets():
    """Every name `resolve_preset` accepts, with where it comes from and whether it is local."""
    rows = [(name, "embedded", True) for name in embedded_presets()]
    rows += [(name, "download", (cached_preset_dir(name) / CONFIG_FILE).is_file()) for name in STYLES]
    return rows


def is_preset_dir(path):
    return os.path.isfile(os.path.join(path, CONFIG_FILE))


def check_preset_name(name_or_path):
    """Raises ValueError naming the alternatives unless `name_or_path` can be resolved.

    Registered names win over directories of the same name (write `./hayao` for those)."""
    name_or_path = str(name_or_path)
    if name_or_path in STYLES or name_or_path in embedded_presets() or is_preset_dir(name_or_path):
        return
    if os.path.isdir(name_or_path):
        raise ValueError(f"{name_or_path} is not a preset directory (it has no {CONFIG_FILE})")
    known = ", ".join(name for name, _, _ in available_presets())
    raise ValueError(f"unknown style {name_or_path!r}: not a preset directory; available styles: {known}")


def resolve_default_preset():
    """The default style's preset; offline without a cached copy, the embedded stand-in
    (with a warning that names the reason), so a fresh clone works without a network."""
    from cartoongan.weights.download import DownloadError

    try:
        return resolve_preset(DEFAULT_STYLE)
    except DownloadError as error:
        if OFFLINE_DEFAULT not in embedded_presets():
            raise
        warnings.warn(
            f"the default style {DEFAULT_STYLE!r} is not cached and cannot be downloaded ({error}); "
            f"using the embedded {OFFLINE_DEFAULT!r} distilled from it (faster, less faithful). "
            f"Set CARTOONGAN_WEIGHTS_URL or pass a style to change this.",
            stacklevel=2,
        )
        return PRETRAINED_DIR / OFFLINE_DEFAULT


def resolve_preset(name_or_path=None):
    """Returns the directory of a preset, fetching and converting an upstream style if needed.

    None: the default style (see `resolve_default_preset`)."""
    if name_or_path is None:
        return resolve_default_preset()
    name_or_path = str(name_or_path)
    check_preset_name(name_or_path)
    if name_or_path in embedded_presets():
        return PRETRAINED_DIR / name_or_path
    if name_or_path in STYLES:
        directory = cached_preset_dir(name_or_path)
        if not is_preset_dir(directory):
            from cartoongan.weights.convert import fetch_and_convert_style

            fetch_and_convert_style(name_or_path, weights_url(), directory)
        return directory
    return Path(name_or_path)


def read_preset_config(directory):
    with open(os.path.join(directory, CONFIG_FILE)) as f:
        config = json.load(f)
    return config


def preprocessing_of(config):
    return Preprocessing(**config.get("preprocessing", {}))


def load_generator(name_or_path=None, dtype=None):
    """The raw generator of a preset, in its native convention (float NHWC in and out).

    `dtype` is the dtype policy of the convolutions (None: float32)."""
    from cartoongan.models import build_generator

    directory = resolve_preset(name_or_path)
    config = read_preset_config(directory)
    generator = build_generator(config["generator"]["class_name"], config["generator"]["config"], dtype=dtype)
    generator.load_weights(os.path.join(directory, WEIGHTS_FILE))
    return generator


def load_preset(name_or_path=None, dtype=None):
    """(generator, Preprocessing, config) of a preset."""
    directory = resolve_preset(name_or_path)
    config = read_preset_config(directory)
    return load_generator(directory, dtype=dtype), preprocessing_of(config), config


def save_preset(generator, directory, preprocessing, **metadata):
    """Writes `generator` as a preset; the directory appears whole or not at all."""
    from cartoongan.atomic import atomic_directory

    config = {
        "generator": {"class_name": type(generator).__name__, "config": generator.get_config()},
        "preprocessing": dataclasses.asdict(preprocessing),
        **metadata,
    }
    with atomic_directory(directory) as tmp:
        generator.save_weights(os.path.join(tmp, WEIGHTS_FILE))
        with open(os.path.join(tmp, CONFIG_FILE), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
    return Path(directory)
