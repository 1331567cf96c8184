"""Library errors speak of values and fields (`image_size must be >= 1`); the tools speak of
flags (`--image-size must be >= 1`). The translation happens here, at that boundary only."""


def flag_name(field):
    return "--" + field.replace("_", "-")


def flag_message(error):
    """The message of `error` with the field it starts with (`error.field`, as the library's
    option errors carry it) written as its flag; other errors as they are."""
    field, message = getattr(error, "field", None), str(error)
    if field and hasattr(error, "explain"):  # cartoongan.errors.ParameterError: a {name} slot
        return error.explain({field: flag_name(field)})
    if field and message.startswith(field):
        return flag_name(field) + message[len(field):]
    return message
