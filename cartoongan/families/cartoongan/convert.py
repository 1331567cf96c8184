"""The original CartoonGAN weights (per-tensor .npy, PyTorch layout) -> Keras variables.

A pure mapping: `upstream_to_keras_name` addresses every Keras variable of
`CartoonGanGenerator` from an upstream tensor name (and rejects names it does not know),
and `load_upstream_weights` refuses to finish unless every Keras variable was assigned
exactly once (`cartoongan.weights.assign_weights`).
"""

import re

import numpy as np

from cartoongan.weights import assign_weights

_NUM_RESIDUAL_BLOCKS = 8
# Upstream layer -> Keras layer of CartoonGanGenerator.
_LAYER_NAMES = {
    "conv01_1": "stem_conv",
    "in01_1": "stem_norm",
    "conv02_1": "down1_conv1",
    "conv02_2": "down1_conv2",
    "in02_1": "down1_norm",
    "conv03_1": "down2_conv1",
    "conv03_2": "down2_conv2",
    "in03_1": "down2_norm",
    "deconv01_1": "up1_deconv",
    "deconv01_2": "up1_conv",
    "in12_1": "up1_norm",
    "deconv02_1": "up2_deconv",
    "deconv02_2": "up2_conv",
    "in13_1": "up2_norm",
    "deconv03_1": "head_conv",
}
for _block in range(_NUM_RESIDUAL_BLOCKS):  # upstream numbers residual blocks 04..11
    for _i in (1, 2):
        _LAYER_NAMES[f"conv{_block + 4:02d}_{_i}"] = f"res{_block + 1}_conv{_i}"
        _LAYER_NAMES[f"in{_block + 4:02d}_{_i}"] = f"res{_block + 1}_norm{_i}"

# Upstream parameter -> Keras variable name (the `scale`/`shift` of our instance norm
# deliberately carry the upstream names).
_PARAM_NAMES = {"weight": "kernel", "bias": "bias", "scale": "scale", "shift": "shift"}

UPSTREAM_TENSOR_NAMES = tuple(
    sorted(
        f"{layer}.{param}"
        for layer in _LAYER_NAMES
        for param in (("scale", "shift") if layer.startswith("in") else ("weight", "bias"))
    )
)


def upstream_to_keras_name(tensor_name):
    """`"conv04_2.weight"` -> `("res1_conv2", "kernel")`."""
    match = re.fullmatch(r"(\w+)\.(weight|bias|scale|shift)", tensor_name)
    if not match or match.group(1) not in _LAYER_NAMES:
        raise KeyError(f"upstream tensor {tensor_name!r} has no counterpart in CartoonGanGenerator")
    return _LAYER_NAMES[match.group(1)], _PARAM_NAMES[match.group(2)]


def to_keras_layout(tensor_name, array):
    """PyTorch layouts -> Keras: conv (out, in, kh, kw) and transposed conv (in, out, kh, kw)
    both become (kh, kw, dim1, dim0), which is Keras's (kh, kw, in, out) for Conv2D and
    (kh, kw, out, in) for Conv2DTranspose."""
    if tensor_name.endswith(".weight"):
        return np.transpose(array, (2, 3, 1, 0))
    return array


def load_upstream_weights(generator, tensors):
    """Assigns `tensors` (upstream name -> numpy array) to `generator`, checking coverage."""
    assign_weights(generator, tensors, upstream_to_keras_name, to_keras_layout)


def convert_npy_files(paths):
    """{tensor file name (`conv01_1.weight.npy`): verified local path} -> CartoonGanGenerator
    with every variable set; DownloadError names a file that is not a valid .npy file."""
    from cartoongan.families.cartoongan.generator import CartoonGanGenerator
    from cartoongan.weights.download import DownloadError

    tensors = {}
    for filename, path in paths.items():
        try:
            tensors[filename[: -len(".npy")]] = np.load(path, allow_pickle=False)
        except ValueError as error:
            raise DownloadError(f"{filename} is not a valid .npy file: {error}") from error
    generator = CartoonGanGenerator()
    load_upstream_weights(generator, tensors)
    return generator
