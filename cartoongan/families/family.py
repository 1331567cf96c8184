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
        input_sizes=input_sizes,                  # generator config -> (size_multiple, min_size)
    )

`input_sizes` is the one place that says which sizes a generator takes: a function, defined in
the family's `__init__.py` (so it imports nothing), of a generator config (its constructor
parameters; missing ones at their defaults) returning (size_multiple, min_size): its total
stride and the smallest side it takes. The default, `stride_four`, suits two stride-2 stages.
Presets, training and distillation ask it through `cartoongan.families.input_sizes`; style
rows of a family whose sizes vary with the layout call it for theirs.

A converter is `function(paths) -> generator`: `paths` is {file name: verified local path}
of every file of one style (`StyleSource.files`, or the family's manifest), and it returns
the built Keras generator with every variable set (refusing a file it cannot account for).
The converter of a style is the one whose suffix ends the name of one of its files (the
longest such suffix wins); a single string serves every style.
"""

import dataclasses


def stride_four(config):
    """(size_multiple, min_size) of a generator with two stride-2 stages and no smallest size."""
    return 4, 1


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
    # The family's input_sizes of the style's generator (listing a style builds none); its
    # conversion checks them against the generator it builds.
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
    input_sizes: object = stride_four  # generator config -> (size_multiple, min_size)

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
