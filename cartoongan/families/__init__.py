"""Model families, one folder each (`cartoongan/families/<name>/`): its generator, its
converter(s) from the published files, its parameter bounds, its style rows. Every registry
other modules read is built here from the folders, so adding a family = adding a folder
(`cartoongan.families.family` says what its `FAMILY` holds).

Reading the registries imports no TensorFlow (the folders' `__init__.py` hold facts and
"module:attribute" strings); `generator_class`, `build_generator` and `convert_style_files`
import the family's modules when they are called.

How a style becomes a generator, one direction: name -> family (`STYLE_TABLE`) -> its files
fetched and checked (`fetch_style_files`) -> the family's converter (`convert_style_files`);
writing the preset and loading it into a Cartoonizer is `cartoongan.presets`' job.
"""

import importlib
import os
import pkgutil
from importlib import resources

from cartoongan.families.family import Family, StyleSource, resolve

__all__ = ["Family", "StyleSource", "FAMILIES", "STYLE_TABLE", "GENERATOR_BOUNDS", "TRAINABLE_FAMILIES",
           "family_name", "family_of_class", "generator_class", "build_generator", "input_sizes", "style_files",
           "fetch_style_files", "convert_style_files", "upstream_generator"]


def _discover():
    """{name: Family} of every sub-package that defines FAMILY, in folder-name order."""
    families = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if not info.ispkg:
            continue
        family = getattr(importlib.import_module(f"{__name__}.{info.name}"), "FAMILY", None)
        if family is None:
            continue  # a folder being written: no FAMILY yet
        if family.name != info.name:
            raise ImportError(f"cartoongan/families/{info.name}/ defines the family {family.name!r}: the folder "
                              f"and the family must have one name")
        families[family.name] = family
    return families


def _unique(pairs, what):
    table = {}
    for key, value, family in pairs:
        if key in table:
            raise ImportError(f"{what} {key!r} is defined by two families ({table[key][1]} and {family})")
        table[key] = (value, family)
    return {key: value for key, (value, _) in table.items()}


FAMILIES = _discover()
# The class name a preset stores -> its family.
_BY_CLASS = _unique(((f.generator_class, f, f.name) for f in FAMILIES.values()), "generator class")
_ALIASES = _unique(((alias, f.name, f.name) for f in FAMILIES.values() for alias in (f.name, *f.aliases)),
                   "family name")
# style name -> StyleSource: what --list-styles offers and how each style is fetched.
STYLE_TABLE = _unique(((row.name, row, f.name) for f in FAMILIES.values() for row in f.styles), "style")
# generator class name -> {integer constructor parameter: (low, high)}: the one bounds table
# that presets, training and distillation check against.
GENERATOR_BOUNDS = {class_name: dict(f.bounds) for class_name, f in _BY_CLASS.items()}
# What `cartoongan-train --generator` offers.
TRAINABLE_FAMILIES = tuple(name for name, f in FAMILIES.items() if f.trainable)


def family_name(name):
    """The family's one name for `name` or one of its older aliases (e.g. "full"); ValueError
    naming the families for anything else."""
    if name not in _ALIASES:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}")
    return _ALIASES[name]


def family_of_class(class_name):
    """The Family whose generator is `class_name`; ValueError naming the known classes."""
    if class_name not in _BY_CLASS:
        raise ValueError(f"unknown generator class {class_name!r}; known: {sorted(_BY_CLASS)}")
    return _BY_CLASS[class_name]


def generator_class(class_name):
    """The Keras class a preset's `generator.class_name` names (imports TensorFlow)."""
    return resolve(family_of_class(class_name).generator)


def input_sizes(class_name, config):
    """(size_multiple, min_size) of a `class_name` generator built from `config` (a preset's
    generator config or constructor overrides; missing parameters at their defaults): the
    stride its inputs are padded to and the smallest side it takes. Imports no TensorFlow."""
    return family_of_class(class_name).input_sizes(config)


def build_generator(class_name, config, dtype=None):
    """Instantiates a generator from its preset entry; `dtype` is the convolutions' policy."""
    return generator_class(class_name)(dtype=dtype, **config)


def _manifest(family):
    """{style: {file name: sha256}} of the family's shipped manifest ("package:file")."""
    package, _, filename = family.manifest.partition(":")
    manifest = {}
    for line in resources.files(package).joinpath(filename).read_text().splitlines():
        if line.strip():
            sha256, path = line.split()
            style, name = path.split("/")
            manifest.setdefault(style, {})[name] = sha256
    return manifest


def style_files(style):
    """{file name: sha256} of a style of the table: its row's, else its family's manifest."""
    if style not in STYLE_TABLE:
        raise ValueError(f"no downloadable weights for style {style!r}")
    row = STYLE_TABLE[style]
    return dict(row.files) or _manifest(FAMILIES[row.family])[style]


def checked_against(style):
    """Where the sha256 of a style's files come from, for its provenance."""
    row = STYLE_TABLE[style]
    if row.files:
        return ", ".join(f"sha256 {sha} ({name})" for name, sha in row.files.items())
    package, _, filename = FAMILIES[row.family].manifest.partition(":")
    return f"the sha256 in {package.replace('.', '/')}/{filename}"


def file_location(style, filename, mirror=None):
    """Where a style's file is fetched from: `<mirror>/<style>/<file>` when a mirror is given
    (CARTOONGAN_WEIGHTS_URL), else the row's upstream folder at its pinned commit."""
    from cartoongan.weights.download import join_url

    if mirror:
        return join_url(mirror, f"{style}/{filename}")
    return join_url(STYLE_TABLE[style].source_url, filename)


def fetch_style_files(style, mirror, workdir, progress=None):
    """Downloads and verifies every file of `style` into `workdir`; returns {file name: path}."""
    from cartoongan.weights.download import fetch_verified

    paths = {}
    for filename, sha256 in sorted(style_files(style).items()):
        local = os.path.join(workdir, filename)
        fetch_verified(file_location(style, filename, mirror), local, sha256)
        paths[filename] = local
        if progress is not None:
            progress(filename)
    return paths


def convert_style_files(style, paths):
    """{file name: verified local path} of `style` -> its generator, every variable set, by
    the family's converter for those files."""
    family = FAMILIES[STYLE_TABLE[style].family]
    return resolve(family.converter_for(paths))(paths)


def upstream_generator(style, mirror, download_dir):
    """The generator of a style of the table, from its verified files (downloaded into
    `download_dir`, which is removed afterwards), and its preset metadata. `mirror`: a base
    laid out as `<style>/<file>`, or None for the upstream sources."""
    import shutil

    from cartoongan.weights.download import progress_bar

    row = STYLE_TABLE[style]
    with progress_bar(len(style_files(style)), f"fetching {style}") as advance:
        paths = fetch_style_files(style, mirror, download_dir, progress=advance)
    generator = convert_style_files(style, paths)
    shutil.rmtree(download_dir)
    where = (mirror if "://" in mirror else "a local mirror") if mirror else row.source_url
    metadata = {"name": style, "description": row.description,
                "source": f"{row.details} Fetched from {where}, every file checked against {checked_against(style)}.",
                "license": row.license}
    return generator, metadata
