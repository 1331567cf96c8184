"""A distillation student: built small, started from a larger generator's own filters."""

import keras
import numpy as np

from cartoongan.families import build_generator


def build_student(generator_class="CartoonGanGenerator", generator_config=None, seed=0, dtype=None):
    """`dtype`: the convolutions' dtype policy while training (e.g. "mixed_bfloat16"); the
    weights stay float32 and a preset does not record it."""
    keras.utils.set_random_seed(seed)
    return build_generator(generator_class, dict(generator_config or {}), dtype=dtype)


def init_from_generator(student, source, source_channel_order="BGR"):
    """Copies every student weight from the `source` layer of the same name, sliced to the
    student's shape (the first channels of each axis): a shrunk CartoonGAN then starts from
    the teacher's own filters instead of noise, and a student can continue from an earlier,
    smaller student. Channel orders are reconciled (a BGR source's stem input and head output
    channels are reversed for an RGB student). Residual blocks the source lacks start as the
    identity (their last norm's scale and offset zeroed), so a deepened student starts out
    computing exactly what its source computed. Returns the number of weights copied.

    Not `cartoongan.weights.assign_weights`, the converters' loop: it refuses to finish until
    every variable has a source of exactly its shape, right for a conversion and wrong here,
    where the layers a source lacks or is narrower than keep their initial values by design."""
    if type(source) is not type(student):
        raise ValueError(f"cannot initialise a {type(student).__name__} from a {type(source).__name__}")
    source_layers = {layer.name: layer for layer in source.layers}
    copied = 0
    for layer in student.layers:
        origin = source_layers.get(layer.name)
        if origin is None and layer.name.startswith("res") and layer.name.endswith("_norm2"):
            for weight in layer.weights:
                weight.assign(np.zeros(weight.shape, np.float32))
        if origin is None or not layer.weights or len(origin.weights) != len(layer.weights):
            continue
        for target_weight, source_weight in zip(layer.weights, origin.weights):
            value = np.asarray(keras.ops.convert_to_numpy(source_weight), np.float32)
            if source_channel_order == "BGR" and layer.name == "stem_conv" and value.ndim == 4:
                value = value[:, :, ::-1, :]
            if source_channel_order == "BGR" and layer.name == "head_conv":
                value = value[..., ::-1]
            value = value[tuple(slice(0, n) for n in target_weight.shape)]
            if value.shape != tuple(target_weight.shape):
                break
            target_weight.assign(value)
            copied += 1
    return copied
