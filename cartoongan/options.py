"""Options documented once, where they are defined: a dataclass field whose metadata holds
its help text, which `cartoongan.cli.flags.add_config_flags` turns into a flag and --help."""

import dataclasses


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
