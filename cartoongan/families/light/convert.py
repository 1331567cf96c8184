"""CartoonGan-tensorflow *light* generator checkpoints (TF2 object checkpoints) -> LightGenerator.

A pure mapping: `checkpoint_to_keras_name` addresses a Keras variable of `LightGenerator`
from a checkpoint variable name such as
`down_conv1/r_model/layer-3/depthwise_kernel/.ATTRIBUTES/VARIABLE_VALUE`, and
`load_light_weights` refuses to finish unless every checkpoint variable and every Keras
variable was used exactly once. Layouts agree (Keras kernels on both sides), so values are
copied as they are; only the names differ. Writing the result as a preset is
`cartoongan.presets.convert_light_checkpoint`'s job (presets import weights, not back).
"""

import os
import re

from cartoongan.weights import assign_weights

VARIABLE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
SOURCE_LICENSE = "CartoonGan-tensorflow, Apache-2.0"

# Layer paths inside the upstream sub-models (`tf.keras.Sequential` indices; the gaps are
# the parameterless ReLU / padding layers) -> suffix of the Keras layer name.
_BASIC_UNIT = {
    "layer-0": "branch_conv1",
    "layer-1": "branch_norm1",
    "layer-3": "branch_dwconv",
    "layer-4": "branch_norm2",
    "layer-5": "branch_conv2",
    "layer-6": "branch_norm3",
}
_DOWN_UNIT = {
    "l_model/layer-0": "left_dwconv",
    "l_model/layer-1": "left_norm",
    "l_model/layer-2": "left_conv",
    "r_model/layer-0": "right_conv1",
    "r_model/layer-1": "right_norm1",
    "r_model/layer-3": "right_dwconv",
    "r_model/layer-4": "right_norm2",
    "r_model/layer-5": "right_conv2",
    "bn_act/layer-0": "norm",
}
_FIXED_LAYERS = {
    "flat_conv1/model/layer-1": "stem_conv",
    "flat_conv1/model/layer-2": "stem_norm",
    "final_conv/layer-1": "head_conv",
}
# Upstream variable -> Keras variable (our instance norm calls gamma/beta scale/shift; the
# Keras 3 depthwise kernel is `kernel`, same (kh, kw, in, multiplier) layout).
_PARAM_NAMES = {
    "kernel": "kernel",
    "bias": "bias",
    "depthwise_kernel": "kernel",
    "gamma": "scale",
    "beta": "shift",
}
_NAME_PATTERN = re.compile(r"(?P<layer>.+)/(?P<param>kernel|bias|depthwise_kernel|gamma|beta)")


def _keras_layer_name(layer_path):
    if layer_path in _FIXED_LAYERS:
        return _FIXED_LAYERS[layer_path]
    match = re.fullmatch(r"down_conv(\d+)/(.+)", layer_path)
    if match and match.group(2) in _DOWN_UNIT:
        return f"down{match.group(1)}_{_DOWN_UNIT[match.group(2)]}"
    match = re.fullmatch(r"residual_blocks/layer-(\d+)/model/(layer-\d+)", layer_path)
    if match and match.group(2) in _BASIC_UNIT:
        return f"res{int(match.group(1)) + 1}_{_BASIC_UNIT[match.group(2)]}"
    match = re.fullmatch(r"up_conv(\d+)/model/layer-0", layer_path)
    if match:
        return f"up{match.group(1)}_conv"
    match = re.fullmatch(r"up_conv(\d+)/model/layer-1/model/(layer-\d+)", layer_path)
    if match and match.group(2) in _BASIC_UNIT:
        return f"up{match.group(1)}_{_BASIC_UNIT[match.group(2)]}"
    return None


def checkpoint_to_keras_name(variable_name):
    """`"residual_blocks/layer-2/model/layer-3/depthwise_kernel/.ATTRIBUTES/VARIABLE_VALUE"`
    -> `("res3_branch_dwconv", "kernel")`; KeyError for a variable LightGenerator lacks."""
    name = variable_name[: -len(VARIABLE_SUFFIX)] if variable_name.endswith(VARIABLE_SUFFIX) else variable_name
    match = _NAME_PATTERN.fullmatch(name)
    layer = _keras_layer_name(match.group("layer")) if match else None
    if layer is None:
        raise KeyError(f"checkpoint variable {variable_name!r} has no counterpart in LightGenerator")
    return layer, _PARAM_NAMES[match.group("param")]


def resolve_checkpoint_prefix(prefix_or_dir):
    """A checkpoint prefix (`.../generator`) or a directory holding one (through its
    `checkpoint` file) -> the prefix. FileNotFoundError when there is none."""
    import tensorflow as tf

    path = os.fspath(prefix_or_dir)
    if os.path.isdir(path):
        prefix = tf.train.latest_checkpoint(path)
        if prefix is None:
            raise FileNotFoundError(f"{path} holds no TensorFlow checkpoint (no 'checkpoint' file naming one)")
        return prefix
    if not os.path.isfile(path + ".index"):
        raise FileNotFoundError(f"{path} is neither a checkpoint prefix ({path}.index is absent) nor a directory")
    return path


def read_checkpoint_variables(prefix_or_dir):
    """{variable name: numpy array} of every variable of a TF2 checkpoint (object-graph and
    config entries, which hold no weights, are left out)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(resolve_checkpoint_prefix(prefix_or_dir))
    return {
        name: reader.get_tensor(name)
        for name in sorted(reader.get_variable_to_shape_map())
        if name.endswith(VARIABLE_SUFFIX)
    }


def load_light_weights(generator, variables):
    """Assigns `variables` (checkpoint name -> array) to `generator`, checking coverage:
    every checkpoint variable and every Keras variable must be used exactly once."""
    assign_weights(generator, variables, checkpoint_to_keras_name)


def load_light_checkpoint(generator, prefix_or_dir):
    """Reads a light-generator checkpoint into `generator` (see `load_light_weights`)."""
    load_light_weights(generator, read_checkpoint_variables(prefix_or_dir))
    return generator
