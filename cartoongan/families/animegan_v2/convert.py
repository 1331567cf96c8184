"""AnimeGANv2 TFLite files -> AnimeGanV2Generator: the scope table and the expected constants,
walked by `cartoongan.weights.tflite_convert`."""

import numpy as np

from cartoongan.weights.tflite_convert import close, load_tflite_weights


def animegan_v2_scopes(num_residual_blocks=4):
    """TF scope of each convolution and layer norm of the authors' G_net ->
    AnimeGanV2Generator layer (contrib numbers Conv, Conv_1, ... and LayerNorm, LayerNorm_1,
    ... per variable scope; the inverted residual blocks name their depthwise conv and its
    norms r<k>/r<k>, r<k>/1 and r<k>/2)."""
    root = "generator/G_MODEL"
    blocks = {"A": ["a1", "a2", "a3"], "B": ["b1", "b2"], "C": ["c1", "c2"], "D": ["d1", "d2"], "E": ["e1", "e2", "e3"]}
    scopes = {}
    for scope, names in blocks.items():
        for i, name in enumerate(names):
            suffix = "" if i == 0 else f"_{i}"
            scopes[f"{root}/{scope}/Conv{suffix}"] = f"{name}_conv"
            scopes[f"{root}/{scope}/LayerNorm{suffix}"] = f"{name}_norm"
    for k in range(1, num_residual_blocks + 1):
        block, name = f"{root}/C/r{k}", f"c_r{k}"
        scopes.update({f"{block}/Conv": f"{name}_expand_conv", f"{block}/LayerNorm": f"{name}_expand_norm",
                       f"{block}/r{k}": f"{name}_dw_conv", f"{block}/1": f"{name}_dw_norm",
                       f"{block}/Conv_1": f"{name}_project_conv", f"{block}/2": f"{name}_project_norm"})
    scopes[f"{root}/out_layer/Conv"] = "out_conv"
    return scopes


# Constants that are part of the definition, not weights: name pattern -> (check, what).
_ANIMEGAN_STRUCTURE = [
    (r".*/paddings", lambda v: v.shape == (4, 2) and set(np.unique(v)) <= {0, 1, 3}, "reflection paddings"),
    (r".*/resize/size", lambda v: v.shape == (2,), "a resize size"),
    (r".*/moments/variance/reduction_indices", lambda v: list(v) == [1, 2, 3],
     "the layer norm's axes (height, width and channels)"),
    (r".*/batchnorm/add/y", lambda v: close(v, 1e-12, 0.01), "the layer norm's epsilon 1e-12"),
]


def load_animegan_v2_tflite(generator, path):
    """An AnimeGANv2 TFLite file (e.g. int8-quantized) -> AnimeGanV2Generator."""
    return load_tflite_weights(generator, path, animegan_v2_scopes(generator.num_residual_blocks), _ANIMEGAN_STRUCTURE)


def convert_tflite_file(paths):
    """{file name: verified local path} of the style's one TFLite file -> AnimeGanV2Generator with every variable set."""
    from cartoongan.families.animegan_v2.generator import AnimeGanV2Generator

    (path,) = paths.values()
    generator = AnimeGanV2Generator()
    load_animegan_v2_tflite(generator, path)
    return generator
