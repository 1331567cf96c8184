"""What the tools share: library errors speak of values and parameters (`image_size must be
>= 1`), the tools of flags (`--image-size must be >= 1`); options documented in a dataclass."""

import argparse
import dataclasses
import json
import typing

from cartoongan.errors import ParameterError

# Where the styles that are not shipped come from: every tool that may fetch one says so.
ENVIRONMENT_HELP = """environment:
  CARTOONGAN_HOME         cache of downloaded styles (default: ~/.cache/cartoongan)
  CARTOONGAN_WEIGHTS_URL  where the hosoda, paprika and shinkai weights are fetched from: a base
                          URL (http(s)://, file://) or a folder laid out as <style>/<tensor>.npy
                          (default: the upstream copy in CartoonGan-tensorflow); every file is
                          checked against the sha256 shipped in the package"""


def flag_name(field):
    """The flag of a library parameter: `image_size` -> `--image-size`."""
    return "--" + field.replace("_", "-")


def usage_error(parser, error, flags=None):
    """Exits with the tool's usage and `error`, a library ValueError; a ParameterError names
    its parameter by flag: `flags[field]` where it is not `flag_name(field)`."""
    if isinstance(error, ParameterError):
        parser.error(error.explain(lambda field: (flags or {}).get(field) or flag_name(field)))
    parser.error(str(error))


def flag_type(parse):
    """A library value parser (ValueError) as an argparse `type`, its message kept."""
    def parse_flag(text):
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return parse_flag


def json_object(text):
    """argparse `type` of a JSON object (NaN and Infinity refused)."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object like '{{\"filters\": 32}}', got {text!r}")
    return value


def _reject_constant(constant):
    raise ValueError(f"{constant} is not allowed")


def add_config_flags(parser, config_class):
    """A flag for each field of the dataclass `config_class` with a "help" in its metadata:
    `--field-name`, typed by the annotation (a dict as JSON), with the metadata's "choices"
    and "metavar", and the default in the help ("shown_default" where the value alone would
    not say it). A field without a default is a required flag. An option not given parses as
    None: the dataclass applies its own default, and the caller can tell what was given."""
    for field in dataclasses.fields(config_class):
        meta = field.metadata
        if "help" not in meta:
            continue
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        default = meta.get("shown_default", field.default)  # a factory's field says it in shown_default
        kind = next(t for t in typing.get_args(field.type) or (field.type,) if t is not type(None))
        parser.add_argument(flag_name(field.name), type=json_object if kind is dict else kind, required=required,
                            choices=meta.get("choices"), metavar=meta.get("metavar"),
                            help=meta["help"].replace("%", "%%") + ("" if required else f" (default: {default})"))
