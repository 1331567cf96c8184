"""An error about one argument of a library call, which a command line can name as its flag."""


class ParameterError(ValueError):
    """A value the library refuses before any work, naming the parameter at fault.

    `field` names the parameter; the message is a template with a `{name}` slot for it.
    `str(error)` fills the slot with the library's own name (`output_dir out exists and is
    not a folder`), `error.explain(names)` with the caller's, e.g. a CLI's flags
    (`explain({"output_dir": "--output"})`: `--output out exists and is not a folder`), so
    the caller never parses a message to know what was wrong."""

    def __init__(self, field, template, **values):
        self.field = field  # the parameter's name
        self.template = template
        self.values = values
        super().__init__(self.explain({}))

    def explain(self, names):
        """The message, with the parameter called `names[field]` (default: `field` itself);
        `names` may also be a function of the field. A template that names another parameter
        too writes `{names[other]}`."""
        lookup = names if callable(names) else (lambda field: names.get(field, field))
        return self.template.format(name=lookup(self.field), names=_Names(lookup), **self.values)


class _Names:
    def __init__(self, lookup):
        self._lookup = lookup

    def __getitem__(self, field):
        return self._lookup(field)
