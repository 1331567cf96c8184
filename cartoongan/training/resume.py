"""Restoring a run's checkpoint once its models are built: a checkpoint that the models of
the workdir's config.json cannot hold (the file edited, or written for another run) is
refused with what differs, instead of TensorFlow's shape error from deep in the restore."""

import os
import re

from cartoongan.errors import ParameterError

# `part/variables/N/...`: the N-th weight of a model saved as tf.train.Checkpoint(variables=[...]).
_MODEL_WEIGHT = re.compile(r"(\w+)/variables/(\d+)/\.ATTRIBUTES/VARIABLE_VALUE")


class ResumeError(ParameterError):
    """The checkpoint in a workdir does not fit the run its config.json describes (`workdir`)."""


def restore_checkpoint(checkpoint, path, config_file):
    """Restores `path` into `checkpoint` (a tf.train.Checkpoint whose model parts hold a
    `variables` list), after checking every saved weight's shape against the model's.
    ResumeError names `path`, `config_file` and the first weight that differs."""
    import tensorflow as tf

    saved = {}
    for key, shape in tf.train.list_variables(path):
        match = _MODEL_WEIGHT.fullmatch(key)
        if match:
            saved.setdefault(match[1], {})[int(match[2])] = tuple(shape)
    for part, shapes in sorted(saved.items()):
        variables = getattr(getattr(checkpoint, part, None), "variables", None)
        if variables is None:
            _refuse(path, config_file, f"it holds a {part} that this run does not build")
        for index, variable in enumerate(variables):
            if index in shapes and shapes[index] != tuple(variable.shape):
                name = getattr(variable, "path", None) or variable.name  # Keras's path, or tf.Variable's name
                _refuse(path, config_file, f"the {part}'s {name} is {_shape(shapes[index])} there, "
                                           f"{_shape(variable.shape)} as built from {os.path.basename(config_file)}")
        if len(shapes) != len(variables):
            _refuse(path, config_file, f"the {part} has {len(shapes)} weights there, {len(variables)} as built from "
                                       f"{os.path.basename(config_file)}")
    try:
        checkpoint.restore(path).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        _refuse(path, config_file, str(error).strip().split("\n")[0][:300])


def _shape(shape):
    return "x".join(str(size) for size in shape) or "a scalar"


def _refuse(path, config_file, what):
    preset = os.path.join(os.path.dirname(os.path.dirname(path)), "preset", "config.json")
    raise ResumeError("workdir", "{name} {workdir}: the checkpoint {path} does not fit the run {config_file} "
                      "describes: {what}. Was {config_file} edited? Put it back as the run was started{preset_note}, "
                      "or use another {name}", workdir=os.path.dirname(os.path.dirname(path)), path=path,
                      config_file=config_file, what=what,
                      preset_note=f" ({preset} says how the checkpoint's generator was built)"
                      if os.path.isfile(preset) else "")
