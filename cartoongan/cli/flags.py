"""What the tools share: library errors speak of values and parameters (`image_size must be
>= 1`), the tools of flags (`--image-size must be >= 1`); options documented in a dataclass."""

import argparse
import dataclasses
import json
import typing

from cartoongan.errors import ParameterError


def flag_name(field):
    """The flag of a library parameter: `image_size` -> `--image-size`."""
    return "--" + field.replace("_", "-")


def flag_names(config_class):
    """{field: flag} of the fields of the dataclass `config_class` whose flag (metadata "flag")
    is not `flag_name(field)`: the names `usage_error` gives them."""
    return {field.name: field.metadata["flag"] for field in dataclasses.fields(config_class)
            if "flag" in field.metadata}


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


def add_config_flags(parser, config_class, defaults=None, into=None):
    """A flag for each field of the dataclass `config_class` with a "help" in its metadata:
    `--field-name` (or the metadata's "flag"), typed by the annotation (a dict as JSON, a bool
    a switch) or by the metadata's "type" (a ValueError's message kept), with its "choices",
    "metavar" and "nargs", and the default in the help ("shown_default" where the value alone
    would not say it; None: no default to say). A field without a default is a required flag. An option not given
    parses as None: the dataclass applies its own default, and the caller can tell what was
    given; `defaults=True` puts the dataclass's defaults in the parser instead, and
    `defaults={field: (value, as --help says it)}` gives the tool's own default of a field.
    `into`: {field: group} for flags that go to an argument group (a mutually exclusive one)
    rather than to `parser`."""
    own = defaults if isinstance(defaults, dict) else {}
    for field in dataclasses.fields(config_class):
        meta = field.metadata
        if "help" not in meta:
            continue
        add = (into or {}).get(field.name, parser).add_argument
        name, text = meta.get("flag", flag_name(field.name)), meta["help"].replace("%", "%%")
        kind = next(t for t in typing.get_args(field.type) or (field.type,) if t is not type(None))
        if kind is bool:
            add(name, dest=field.name, action="store_true", default=False if defaults is True else None, help=text)
            continue
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        # a factory's field says its default in shown_default
        default, shown = own.get(field.name, (field.default if defaults is True and not required else None,
                                              meta.get("shown_default", field.default)))
        parse = flag_type(meta["type"]) if "type" in meta else {dict: json_object, list: str}.get(kind, kind)
        add(name, dest=field.name, type=parse, required=required, default=default, choices=meta.get("choices"),
            metavar=meta.get("metavar"), nargs=meta.get("nargs"),
            help=text + ("" if required or shown is None else f" (default: {shown})"))
