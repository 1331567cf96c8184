"""Options documented once, where they are defined: a dataclass field whose metadata holds
its help text, which `cartoongan.cli.flags.add_config_flags` turns into a flag and --help."""

import dataclasses
import numbers
import re

from cartoongan.errors import ParameterError

# Numbers as a person types them, ASCII only: Python's int() and float() also take `1_0` (10),
# full-width and other Unicode digits, `nan` and `inf`, which no user means in a flag or a URL.
_WHOLE_NUMBER = re.compile(r"[+]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def whole_number(text):
    """`"512"` -> 512: ASCII digits only (ValueError otherwise, `1_0` and full-width digits
    among it). The one parser of the whole numbers of flags and of the web API's fields."""
    text = text.strip()
    if not _WHOLE_NUMBER.fullmatch(text):
        raise ValueError(f"expected a whole number, not {text!r}")
    return int(text)


def number(text):
    """`"0.5"` -> 0.5: an ASCII decimal number, with an optional exponent (ValueError
    otherwise: `1_0`, full-width digits, nan and inf among it)."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"expected a number, not {text!r}")
    return float(text)


def option(default, help, **flag):
    """A field that is also a command-line option: `help` and the flag's own bits go to its
    metadata: choices, metavar, nargs, type (the parser of its text form), flag (the flag's
    name where it is not --field-name) and shown_default (the default as --help says it). A
    dict default is given as a factory."""
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=dict(help=help, **flag))
    return dataclasses.field(default=default, metadata=dict(help=help, **flag))


def required(help, **flag):
    """A field without a default that is also a (required) command-line option."""
    return dataclasses.field(metadata=dict(help=help, **flag))


@dataclasses.dataclass(frozen=True)
class LookOptions:
    """How a result looks (applied by `cartoongan.look` in the Cartoonizer), checked:
    ParameterError names the option at fault. The command lines make a flag of each."""

    style_size: int = option(0, "run the style on the photo shrunk to N px on its long side and bring the result to "
                             "full size by guided upsampling: the look of an N px run (strokes the size the style "
                             "was trained at) with the photo's sharpness, in seconds at 12 MP (with --max-size 0 for the full size); "
                             "0: off", metavar="N",
                             shown_default="off", type=whole_number)
    strength: float = option(1.0, "0 gives the photo, 1 the full style, values between a blend of the two",
                             metavar="0..1", type=number)
    keep_colors: bool = option(False, "keep the photo's colours: the result's brightness (luma) with the photo's "
                               "chroma (YCbCr)")

    def __post_init__(self):
        size, strength = self.style_size, self.strength
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 0 or 0 < size < 16:
            raise ParameterError("style_size", "{name} must be 0 (off) or at least 16 pixels, not {value!r}",
                                 value=size)
        if isinstance(strength, bool) or not isinstance(strength, numbers.Real) or not 0.0 <= strength <= 1.0:
            raise ParameterError("strength", "{name} must be a number from 0 to 1, not {value!r}", value=strength)
        if isinstance(self.keep_colors, str) or self.keep_colors not in (True, False):
            raise ParameterError("keep_colors", "{name} must be true or false, not {value!r}", value=self.keep_colors)
        object.__setattr__(self, "style_size", int(size))
        object.__setattr__(self, "strength", float(strength))
        object.__setattr__(self, "keep_colors", bool(self.keep_colors))

    @classmethod
    def parse(cls, texts):
        """{field: text} (a query string's, a --looks item's) -> LookOptions: style_size a
        whole number, strength a number, keep_colors true/false/yes/no/1/0. ParameterError
        names the field of a value that does not parse (`whole_number`, `number`) or is out of
        range; ValueError for an unknown field."""
        names = {field.name for field in dataclasses.fields(cls)}
        values = {}
        for name, text in texts.items():
            if name not in names:
                raise ValueError(f"unknown look option {name!r}: expected {', '.join(sorted(names))}")
            try:
                if name == "keep_colors":
                    values[name] = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}[
                        text.strip().lower()]
                else:
                    values[name] = (whole_number if name == "style_size" else number)(text)
            except (KeyError, ValueError):
                raise ParameterError(name, "{name} cannot be {value!r}", value=text) from None
        return cls(**values)

    def to_dict(self):
        return dataclasses.asdict(self)

    def style_input_size(self, height, width):
        """(height, width) the network runs at: the photo's, or shrunk to `style_size`."""
        if not self.style_size or max(height, width) <= self.style_size:
            return height, width
        scale = self.style_size / max(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))


# The style faces get with --portrait (cartoongan.portrait). AnimeGANv3's JP_face portrait model
# is not converted (another generator than the family's); its Hayao style draws faces in soft,
# shaded anime colours that sit well in the other styles' scenes (the sketch style, the other
# portrait model, draws them as black ink on white: a mask in a colour photo).
DEFAULT_FACE_STYLE = "animeganv3_hayao"


@dataclasses.dataclass(frozen=True)
class PortraitOptions:
    """Faces by a face style, the rest by the scene style (`cartoongan.portrait`), checked:
    ParameterError names the option at fault. The command lines make a flag of each."""

    portrait: bool = option(False, "draw each face with the face style (eyes level, at the face style's own size, "
                            "blended in with a feathered edge) and the rest with the style; a photo that one face "
                            "fills goes wholly to the face style; no face: the style alone")
    face_style: str = option(None, "the style of the faces with --portrait: a style name or preset directory",
                             metavar="NAME", shown_default=DEFAULT_FACE_STYLE)

    def __post_init__(self):
        if isinstance(self.portrait, str) or self.portrait not in (True, False):
            raise ParameterError("portrait", "{name} must be true or false, not {value!r}", value=self.portrait)
        if self.face_style is not None and (not isinstance(self.face_style, str) or not self.face_style.strip()):
            raise ParameterError("face_style", "{name} must be a style name, not {value!r}", value=self.face_style)
        if self.face_style is not None and not self.portrait:
            raise ParameterError("face_style", "{name} is for portraits: add {names[portrait]}")
        object.__setattr__(self, "portrait", bool(self.portrait))

    def to_dict(self):
        return dataclasses.asdict(self)
