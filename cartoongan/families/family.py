"""What a model family is: the facts every registry reads, free of imports beyond the
standard library, so that listing styles or checking a config costs no TensorFlow.

A family is one folder, `cartoongan/families/<name>/`, whose `__init__.py` defines
`FAMILY = Family(...)` (no TensorFlow import there); `cartoongan.families` builds every
registry from the folders it finds. Adding a family = adding a folder.

Shape (strings are resolved on use, so reading a `Family` imports nothing):

    Family(
        name="animegan_v3",                       # the one name: --generator, StyleSource.family
        generator="cartoongan.families.animegan_v3.generator:AnimeGanV3Generator",
        converters={".pb": "module:function",     # file suffix (or "" for any) -> converter;
                    ".onnx": "module:function"},  # or one "module:function" for every style
        bounds={"filters": (1, 256)},             # integer constructor parameters: sane bounds
        styles=(StyleSource(...), ...),           # the downloadable styles of the family
        trainable=True,                           # offered by cartoongan-train --generator
        aliases=(),                               # older names still accepted (e.g. "full")
    )

A converter is `function(paths) -> generator`: `paths` is {file name: verified local path}
of every file of one style (`StyleSource.files`, or the family's manifest), and it returns
the built Keras generator with every variable set (refusing a file it cannot account for).
The converter of a style is the one whose suffix ends the name of one of its files (the
longest such suffix wins); a single string serves every style.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class StyleSource:
    """A downloadable style: where its files are, how they are checked, what people are told."""

    name: str
    family: str  # the name of its Family
    description: str  # for people: what it looks like, the licence in a word (no speed figures)
    details: str  # for the curious: paper, architecture, provenance
    license: str
    channel_order: str  # what the weights take and give: "RGB" or "BGR", in [-1, 1]
    source_url: str  # upstream folder holding `files`, at a pinned commit
    files: dict = dataclasses.field(default_factory=dict)  # file name -> sha256 (empty: the family's manifest)
    size_multiple: int = 4  # the generator's total stride; inputs are padded to it
    min_size: int = 1  # the smallest height and width the generator accepts (smaller ones are padded)


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    generator: str  # "module:Class"
    converters: object = None  # "module:function" or {file suffix: "module:function"}; None: no styles
    bounds: dict = dataclasses.field(default_factory=dict)  # {parameter: (low, high)}, integers
    styles: tuple = ()  # StyleSource rows
    trainable: bool = True
    aliases: tuple = ()
    manifest: str = ""  # "package:file" of {style}/{file} sha256 lines, for styles with no `files`

    @property
    def generator_class(self):
        """The class name presets store (`config.json` generator.class_name)."""
        return self.generator.rpartition(":")[2]

    def converter_for(self, filenames):
        """The "module:function" that converts a style made of `filenames`."""
        if isinstance(self.converters, str):
            return self.converters
        matches = [(len(suffix), suffix) for suffix in (self.converters or {})
                   if any(name.endswith(suffix) for name in filenames)]
        if not matches:
            raise ValueError(f"family {self.name!r} has no converter for files {sorted(filenames)}")
        return self.converters[max(matches)[1]]


def resolve(reference):
    """"module:attribute" -> the object (imports the module)."""
    import importlib

    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)
