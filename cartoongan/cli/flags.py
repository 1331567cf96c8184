"""Library errors speak of values and parameters (`image_size must be >= 1`); the tools speak
of flags. `ParameterError.explain(flag_name)` gives `--image-size must be >= 1`."""


def flag_name(field):
    """The flag of a library parameter: `image_size` -> `--image-size`."""
    return "--" + field.replace("_", "-")
