"""Presets: a directory with `config.json` (generator class and config, preprocessing facts)
and `model.weights.h5`. A preset is named by a directory path or by a registered style name.

A style name goes one way: name -> family (`cartoongan.families.STYLE_TABLE`) -> its files,
fetched and checked, -> the family's converter -> a preset written here -> loaded here into
a generator for the Cartoonizer. The shipped styles (`pretrained/`, float16 weights) need no
network; the others are fetched on first use (from `CARTOONGAN_WEIGHTS_URL` or their
upstream source at a pinned commit), checked against their sha256, converted, and cached under
`CARTOONGAN_HOME/presets/<style>/`. The cache entry appears atomically (rename of a complete
directory), so its presence means it is whole; concurrent fetches of one style both succeed
(the first to finish is kept).

Every `config.json` is checked against a schema when it is read (`read_preset_config`):
a broken or hostile preset is refused with one line naming the file and the field, before
any model is built; the generator's parameters against the families' one bounds table.
"""

import dataclasses
import json
import math
import os
import re
import warnings
from pathlib import Path

from cartoongan.families import GENERATOR_BOUNDS, STYLE_TABLE, input_sizes
from cartoongan.models import MEDIAN_SIZES, is_median_window

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
# The shipped styles: the repository's top-level `pretrained/` (a clone, `pip install -e .`),
# which a built wheel carries inside the package as `cartoongan/pretrained/` (setup.py).
PRETRAINED_DIR = next((folder for folder in (Path(__file__).resolve().parent / "pretrained",
                                             Path(__file__).resolve().parent.parent / "pretrained")
                       if folder.is_dir()), Path(__file__).resolve().parent.parent / "pretrained")
# A preset's name becomes an output folder (DIR/<name>/...): one plain path component.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
# size_multiple is the generator's total stride (4 to 16 for the networks here); min_size the
# smallest side it takes (twice its stride for AnimeGANv3: a 3x3 conv reflection-pads the smallest map).
_MAX_SIZE_MULTIPLE = 64
_MAX_MIN_SIZE = 256


class PresetError(ValueError):
    """A preset is malformed or damaged; the message names the file and what is wrong."""


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How a generator's weights expect images: channel order and value range [-1, 1]."""

    channel_order: str = "RGB"  # "RGB" or "BGR"
    size_multiple: int = 4  # the generator's total stride; inputs are padded to it
    min_size: int = 1  # the smallest height and width the generator takes; smaller inputs are padded to it

    def __post_init__(self):
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order must be RGB or BGR, not {self.channel_order!r}")


def generator_preprocessing(generator, channel_order="RGB"):
    """The Preprocessing of a preset of `generator`: `channel_order`, and the sizes its family
    says a generator of its config takes (`cartoongan.families.input_sizes`)."""
    return Preprocessing(channel_order, *input_sizes(type(generator).__name__, generator.get_config()))


@dataclasses.dataclass(frozen=True)
class Style:
    name: str
    description: str  # for people: the look, the speed, the licence in a word
    license: str
    preprocessing: Preprocessing
    details: str = ""  # paper, architecture, provenance: shown on demand


STYLES = {
    name: Style(name, row.description, row.license, Preprocessing(row.channel_order, row.size_multiple, row.min_size),
                row.details)
    for name, row in STYLE_TABLE.items()
}
# The style that looks best on the contact sheets and keeps the photo's colours
# (docs/styles.md); its licence (CC BY-NC-SA 4.0) allows shipping it in pretrained/.
DEFAULT_STYLE = "whitebox"
# The variables read below, as every tool that may fetch a style documents them in --help.
ENVIRONMENT = """environment:
  CARTOONGAN_HOME         cache of downloaded styles (default: ~/.cache/cartoongan)
  CARTOONGAN_WEIGHTS_URL  where styles that are not shipped are fetched from: a base URL
                          (http(s)://, file://) or a folder laid out as <style>/<file> (default:
                          each style's upstream source at a pinned commit); every file is
                          checked against the sha256 shipped in the package"""


def home_dir():
    return Path(os.environ.get("CARTOONGAN_HOME") or Path.home() / ".cache" / "cartoongan")


def weights_url():
    """The mirror styles are fetched from (CARTOONGAN_WEIGHTS_URL), or None: each style's
    upstream source (`cartoongan.families.STYLE_TABLE`)."""
    return os.environ.get("CARTOONGAN_WEIGHTS_URL") or None


def style_summary(name, config=None):
    """(description, licence, details) of a style name for people (--list-styles, the web
    page): the table's words for a style of the table, else the preset's config.json."""
    if name in STYLES:
        style = STYLES[name]
        return style.description, style.license, style.details
    config = config or {}
    source = config.get("distilled_from") or config.get("init_from")
    description = config.get("description") or (
        f"distilled from {source} by this project: faster, less faithful" if config.get("distilled_from")
        else f"fine-tuned from {source}" if source else "a preset directory")
    license = config.get("license") or (f"derived from the {source} weights; see its licence" if source
                                        else "see the preset's config.json")
    return description, license, config.get("source", "")


def cached_preset_dir(style):
    return home_dir() / "presets" / style


def embedded_presets():
    """Names of the presets shipped in the repository's `pretrained/` folder."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / CONFIG_FILE).is_file())


def available_presets():
    """Every name `resolve_preset` accepts, with where it comes from and whether it is local."""
    embedded = embedded_presets()
    rows = [(name, "embedded", True) for name in embedded]
    rows += [(name, "download", (cached_preset_dir(name) / CONFIG_FILE).is_file())
             for name in STYLES if name not in embedded]
    return rows


def is_preset_dir(path):
    return os.path.isfile(os.path.join(path, CONFIG_FILE))


def check_preset_name(name_or_path):
    """Raises ValueError naming the alternatives unless `name_or_path` can be resolved
    (PresetError when it is a preset directory whose config.json is malformed).

    Registered names win over directories of the same name (write `./hayao` for those)."""
    name_or_path = str(name_or_path)
    if name_or_path in STYLES or name_or_path in embedded_presets():
        return
    if is_preset_dir(name_or_path):
        read_preset_config(name_or_path)
        return
    if os.path.isdir(name_or_path):
        raise ValueError(f"{name_or_path} is not a preset directory (it has no {CONFIG_FILE})")
    known = ", ".join(name for name, _, _ in available_presets())
    raise ValueError(f"unknown style {name_or_path!r}: not a preset directory; available styles: {known}")


def resolve_preset(name_or_path=None):
    """Returns the directory of a preset, fetching and converting an upstream style if needed.

    None: the default style. Shipped presets (`pretrained/`) win over downloads."""
    if name_or_path is None:
        name_or_path = DEFAULT_STYLE
    name_or_path = str(name_or_path)
    check_preset_name(name_or_path)
    if name_or_path in embedded_presets():
        return PRETRAINED_DIR / name_or_path
    if name_or_path in STYLES:
        return fetch_style(name_or_path)
    return Path(name_or_path)


def fetch_style(style):
    """The cached preset of an upstream style (float32, converted from the upstream files),
    fetched, verified and converted first if it is not cached."""
    directory = cached_preset_dir(style)
    if not is_preset_dir(directory):
        from cartoongan.weights.download import DownloadError

        # Folders this fetch creates (the cache, presets/) go again if it fails.
        created = []
        parent = directory.parent
        while not parent.exists():
            created.append(parent)
            parent = parent.parent
        try:
            convert_upstream_style(style, weights_url(), directory)
        except BaseException as error:
            for folder in created:  # deepest first; stops at one that is not empty
                try:
                    folder.rmdir()
                except OSError:
                    break
            if isinstance(error, DownloadError):
                mirror = weights_url()
                where = (f"the mirror CARTOONGAN_WEIGHTS_URL={mirror}" if mirror else
                         f"{STYLE_TABLE[style].source_url} (set CARTOONGAN_WEIGHTS_URL to a mirror)")
                raise type(error)(f"style {style!r} is not cached in {directory} and could not be fetched "
                                  f"from {where}: {error}") from error
            raise
    return directory


def convert_upstream_style(style, base_url, preset_dir, keep_existing=True, weights_dtype="float32"):
    """Builds the preset of a style of the table in `preset_dir`, atomically, from a mirror
    (`base_url`, laid out as `<style>/<file>`) or, with None, its upstream source. The files are
    downloaded into the preset's own temporary folder (a killed fetch leaves a
    `.NAME.partial-PID-*` folder that the next one removes).

    keep_existing: a cache entry, published at most once: when another process publishes the
    same style first, its copy is kept. Otherwise `preset_dir` is replaced (e.g. the float16
    presets shipped in `pretrained/`, weights_dtype="float16")."""
    from cartoongan.atomic import atomic_directory
    from cartoongan.families import upstream_generator

    with atomic_directory(preset_dir, keep_existing=keep_existing) as tmp:
        generator, metadata = upstream_generator(style, base_url, os.path.join(tmp, "download"))
        if weights_dtype != "float32":
            metadata["weights_dtype"] = weights_dtype
        preprocessing = generator_preprocessing(generator, STYLE_TABLE[style].channel_order)
        if preprocessing != STYLES[style].preprocessing:
            raise RuntimeError(f"style {style!r}: its row says {STYLES[style].preprocessing}, but the generator "
                               f"converted from its files takes {preprocessing}")
        write_preset_files(generator, tmp, preset_config(generator, preprocessing, **metadata))
    return preset_dir


def convert_light_checkpoint(checkpoint_prefix, preset_dir, name=None):
    """Writes the preset of a CartoonGan-tensorflow light generator checkpoint (a prefix or
    the folder holding it; RGB in [-1, 1]) to `preset_dir`, atomically; `name` defaults to
    the preset directory's name."""
    from cartoongan.families.light.convert import SOURCE_LICENSE, load_light_checkpoint, resolve_checkpoint_prefix
    from cartoongan.families.light.generator import LightGenerator

    prefix = resolve_checkpoint_prefix(checkpoint_prefix)
    generator = load_light_checkpoint(LightGenerator(), prefix)
    return save_preset(generator, preset_dir, generator_preprocessing(generator),
                       name=name or preset_name_from_path(preset_dir),
                       source=f"CartoonGan-tensorflow light generator checkpoint {os.path.abspath(prefix)}",
                       license=SOURCE_LICENSE)


def check_preset_name_value(name, where="name"):
    """A preset name is one plain path component: letters, digits, `._+-`, at most 64."""
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or name in (".", ".."):
        raise PresetError(f"{where}: {name!r} is not a valid preset name (letters, digits and ._+- "
                          f"only, starting with a letter or digit, at most 64 characters)")
    return name


def preset_name_from_path(path):
    """A valid preset name derived from a folder path (`runs/x/` -> `x`, `..` -> the real
    name of the parent), with characters outside the allowed set replaced by `_`."""
    base = os.path.basename(os.path.realpath(path)) or "preset"
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", base)[:64].lstrip("._+-")
    return name or "preset"


# Top-level fields of config.json besides generator and preprocessing: (types, meaning).
_METADATA_FIELDS = {
    "name": (str,),
    "description": (str,),
    "source": (str,),
    "license": (str,),
    "weights_dtype": (str,),
    "weights_sha256": (str,),
    "distilled_from": (str, type(None)),
    "init_from": (str, type(None)),
    "trained_steps": (int,),
    "training": (dict,),
}


def validate_preset_config(config, where=CONFIG_FILE):
    """Raises PresetError naming `where` and the field unless `config` is a sane preset config:
    known fields of the right types, a known generator class with parameters within bounds
    (so a hostile file cannot make us build an 8 GB model), a valid name."""
    def fail(field, problem):
        # A key from the file may hold newlines or control characters: the message stays one line.
        field = field.encode("unicode_escape").decode("ascii")
        raise PresetError(f"{where}: {field}: {problem}")

    if not isinstance(config, dict):
        fail("top level", f"expected a JSON object, got {type(config).__name__}")
    unknown = sorted(set(config) - {"generator", "preprocessing", *_METADATA_FIELDS})
    if unknown:
        fail(unknown[0], f"unknown field (known: generator, preprocessing, {', '.join(_METADATA_FIELDS)})")
    for field, types in _METADATA_FIELDS.items():
        if field in config and (not isinstance(config[field], types) or isinstance(config[field], bool)):
            fail(field, f"expected {' or '.join('null' if t is type(None) else t.__name__ for t in types)}, "
                        f"got {config[field]!r}")
    if "name" in config:
        check_preset_name_value(config["name"], f"{where}: name")
    if config.get("weights_dtype", "float32") not in ("float32", "float16"):
        fail("weights_dtype", f"expected \"float32\" or \"float16\", got {config['weights_dtype']!r}")

    generator = config.get("generator")
    if not isinstance(generator, dict):
        fail("generator", "missing or not an object with class_name and config")
    if set(generator) - {"class_name", "config"}:
        fail("generator", f"unknown fields {sorted(set(generator) - {'class_name', 'config'})}")
    class_name = generator.get("class_name")
    if not isinstance(class_name, str) or class_name not in GENERATOR_BOUNDS:
        fail("generator.class_name", f"{class_name!r} is not one of {sorted(GENERATOR_BOUNDS)}")
    parameters = generator.get("config", {})
    if not isinstance(parameters, dict):
        fail("generator.config", "expected an object")
    bounds = GENERATOR_BOUNDS[class_name]
    for key, value in parameters.items():
        field = f"generator.config.{key}"
        if key == "name":
            if not isinstance(value, str):
                fail(field, f"expected a string, got {value!r}")
        elif key == "trainable":
            if not isinstance(value, bool):
                fail(field, f"expected true or false, got {value!r}")
        elif key not in bounds:
            fail(field, f"unknown parameter of {class_name} (known: {', '.join(bounds)})")
        else:
            low, high = bounds[key]
            if not isinstance(value, int) or isinstance(value, bool):
                fail(field, f"expected an integer, got {value!r}")
            if not low <= value <= high:
                fail(field, f"{value} is outside the sane range {low}..{high}")
            if key == "photo_path_median" and not is_median_window(value):
                fail(field, f"{value} is not a median window the path builds (0, {', '.join(map(str, MEDIAN_SIZES))})")

    preprocessing = config.get("preprocessing", {})
    if not isinstance(preprocessing, dict):
        fail("preprocessing", "expected an object")
    for key, value in preprocessing.items():
        field = f"preprocessing.{key}"
        if key == "channel_order":
            if value not in ("RGB", "BGR"):
                fail(field, f"expected \"RGB\" or \"BGR\", got {value!r}")
        elif key == "size_multiple":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _MAX_SIZE_MULTIPLE:
                fail(field, f"expected an integer from 1 to {_MAX_SIZE_MULTIPLE}, got {value!r}")
        elif key == "min_size":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _MAX_MIN_SIZE:
                fail(field, f"expected an integer from 1 to {_MAX_MIN_SIZE}, got {value!r}")
        else:
            fail(field, "unknown field (known: channel_order, size_multiple, min_size)")
    return config


def _reject_constant(constant):
    raise ValueError(f"{constant} is not valid JSON")


def read_preset_config(directory):
    """The checked `config.json` of a preset directory (PresetError when it is malformed)."""
    path = os.path.join(directory, CONFIG_FILE)
    try:
        with open(path, "rb") as f:
            text = f.read((1 << 20) + 1)
    except FileNotFoundError:
        raise  # the caller may be racing a writer that replaces the directory
    except OSError as error:
        raise PresetError(f"{path}: cannot read ({error.strerror or error})") from error
    if len(text) > 1 << 20:
        raise PresetError(f"{path}: larger than 1 MB; not a preset config")
    try:
        config = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise PresetError(f"{path}: not valid JSON ({error})") from error
    return validate_preset_config(config, path)


def preprocessing_of(config):
    return Preprocessing(**config.get("preprocessing", {}))


def load_generator(name_or_path=None, dtype=None):
    """The raw generator of a preset, in its native convention (float NHWC in and out).

    `dtype` is the dtype policy of the convolutions (None: float32)."""
    return load_preset(name_or_path, dtype=dtype)[0]


def load_preset(name_or_path=None, dtype=None):
    """(generator, Preprocessing, config) of a preset, read from one version of its directory
    even while a trainer replaces it."""
    from cartoongan.atomic import read_directory_snapshot

    directory = resolve_preset(name_or_path)

    def read(directory):
        config = read_preset_config(directory)
        return _build_and_load(directory, config, dtype), preprocessing_of(config), config

    return read_directory_snapshot(directory, read)


def _build_and_load(directory, config, dtype):
    from cartoongan.families import build_generator

    generator = build_generator(config["generator"]["class_name"], config["generator"]["config"], dtype=dtype)
    path = os.path.join(directory, WEIGHTS_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(2, f"{path}: missing (the preset has {CONFIG_FILE} but no weights)", path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns once per layer before its own error
        try:
            generator.load_weights(path)
        except FileNotFoundError:
            raise
        except OSError as error:  # h5py: truncated or not an HDF5 file
            raise PresetError(f"{path}: damaged ({error}); {_recovery_hint(directory)}") from error
        except ValueError as error:
            raise PresetError(f"{path}: does not fit {CONFIG_FILE}: {_shape_mismatch(error)}") from error
    return generator


def _recovery_hint(directory):
    real = os.path.realpath(directory)
    for style in STYLES:
        if real == os.path.realpath(cached_preset_dir(style)):
            return f"delete the folder {directory} to fetch the {style!r} style again"
    return "delete the preset and copy or train it again"


def _shape_mismatch(error):
    """Keras' load error (kilobytes of array dumps) -> one line: the variable and both shapes."""
    text = str(error)
    found = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))\. "
                      r"Target variable: <Variable path=([^,]+),", text)
    count = re.search(r"A total of (\d+) objects could not be loaded", text)
    if found:
        expected, stored, variable = found.groups()
        more = f" (and {int(count[1]) - 1} more layers)" if count and int(count[1]) > 1 else ""
        return f"{variable} should be {expected} but the file has {stored}{more}"
    return text.splitlines()[0][:300] if text else type(error).__name__


def save_preset(generator, directory, preprocessing, **metadata):
    """Writes `generator` as a preset; the directory appears whole or not at all, and readers
    of an existing preset (`load_preset`) see the old or the new one, never a mix.

    `metadata` goes into config.json; weights_dtype="float16" there stores the weights at
    half the size (they load back into float32 variables)."""
    from cartoongan.atomic import atomic_directory

    config = preset_config(generator, preprocessing, **metadata)
    with atomic_directory(directory) as tmp:
        write_preset_files(generator, tmp, config)
    return Path(directory)


def preset_config(generator, preprocessing, **metadata):
    """The config.json content of a preset of `generator`, checked."""
    config = {
        "generator": {"class_name": type(generator).__name__, "config": generator.get_config()},
        "preprocessing": _preprocessing_fields(preprocessing),
        **metadata,
    }
    _check_finite(config)
    return validate_preset_config(config)


def _preprocessing_fields(preprocessing):
    """`preprocessing` as config.json stores it: min_size only where it is set, so presets
    that need none stay as they were (the shipped ones are reproduced byte for byte)."""
    fields = dataclasses.asdict(preprocessing)
    if fields["min_size"] == Preprocessing.min_size:
        del fields["min_size"]
    return fields


def write_preset_files(generator, directory, config):
    """Writes the two files of a preset into an existing (temporary) folder."""
    weights = os.path.join(directory, WEIGHTS_FILE)
    generator.save_weights(weights)
    if config.get("weights_dtype", "float32") != "float32":
        _cast_weights_file(weights, config["weights_dtype"])
    with open(os.path.join(directory, CONFIG_FILE), "w") as f:
        json.dump(config, f, indent=2, allow_nan=False)
        f.write("\n")


def _cast_weights_file(path, dtype):
    """Rewrites a Keras weights file with its float32 arrays stored as `dtype`."""
    import h5py
    import numpy as np

    def copy(source, target):
        target.attrs.update(source.attrs)
        for key, item in source.items():
            if isinstance(item, h5py.Dataset):
                data = item[()]
                if data.dtype == np.float32:
                    data = data.astype(dtype)
                target.create_dataset(key, data=data).attrs.update(item.attrs)
            else:
                copy(item, target.create_group(key))

    cast = path + ".cast"
    with h5py.File(path, "r") as source, h5py.File(cast, "w") as target:
        copy(source, target)
    os.replace(cast, path)


def _check_finite(value, field="config"):
    """NaN and infinity are not JSON: refuse them with the field's name."""
    if isinstance(value, float) and not math.isfinite(value):
        raise PresetError(f"{field}: {value} cannot be written to {CONFIG_FILE}")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{field}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_finite(item, f"{field}[{index}]")
