"""White-box Cartoonization's TFLite file -> WhiteboxGenerator: the scope table and the guided
filter's constants, walked by `cartoongan.weights.tflite_convert`."""

import numpy as np

from cartoongan.weights.tflite_convert import close, load_tflite_weights


def whitebox_scopes(num_residual_blocks=4):
    """TF scope of each convolution of the authors' unet_generator -> WhiteboxGenerator layer
    (slim numbers its unnamed convolutions Conv, Conv_1, ... in creation order)."""
    scopes = {"generator/Conv": "stem_conv", "generator/Conv_1": "down1_1_conv", "generator/Conv_2": "down1_2_conv",
              "generator/Conv_3": "down2_1_conv", "generator/Conv_4": "down2_2_conv"}
    for i in range(num_residual_blocks):
        scopes[f"generator/block_{i}/conv1"] = f"res{i + 1}_1_conv"
        scopes[f"generator/block_{i}/conv2"] = f"res{i + 1}_2_conv"
    scopes.update({"generator/Conv_5": "bottleneck_conv", "generator/Conv_6": "up1_1_conv",
                   "generator/Conv_7": "up1_2_conv", "generator/Conv_8": "up2_1_conv", "generator/Conv_9": "head_conv"})
    return scopes


# Constants that are part of the definition, not weights: name pattern -> (check, what).
_WHITEBOX_STRUCTURE = [
    (r"add/y", lambda v: close(v, 5e-3, 2 ** -10), "the guided filter's epsilon 5e-3"),
    (r"ones", lambda v: np.all(v == 1), "the guided filter's ones (for N)"),
    (r"depthwise(_\d+)?\d*", lambda v: v.ndim == 4 and close(v, 1 / 9, 2 ** -10), "the guided filter's 3x3 box kernel"),
    (r"depthwise(_\d+)?", lambda v: v.ndim == 1 and np.all(v == 0), "the guided filter's zero bias"),
    (r"generator/ResizeBilinear(_\d+)?/size", lambda v: v.shape == (2,), "a resize size"),
]


def load_whitebox_tflite(generator, path):
    """White-box Cartoonization's TFLite file (float16 or float32 weights) -> WhiteboxGenerator."""
    return load_tflite_weights(generator, path, whitebox_scopes(generator.num_residual_blocks), _WHITEBOX_STRUCTURE)


def convert_tflite_file(paths):
    """{file name: verified local path} of the style's one TFLite file -> WhiteboxGenerator with every variable set."""
    from cartoongan.families.whitebox.generator import WhiteboxGenerator

    (path,) = paths.values()
    generator = WhiteboxGenerator()
    load_whitebox_tflite(generator, path)
    return generator
