import numpy as np
import pytest

from cartoongan.families import style_files
from cartoongan.families.cartoongan.convert import UPSTREAM_TENSOR_NAMES, load_upstream_weights, upstream_to_keras_name
from cartoongan.families.cartoongan.generator import CartoonGanGenerator
from tests.conftest import shared_path


def _random_upstream_tensors(generator):
    """Tensors in PyTorch layout with the shapes the upstream files have."""
    rng = np.random.default_rng(0)
    tensors = {}
    for name in UPSTREAM_TENSOR_NAMES:
        layer, param = upstream_to_keras_name(name)
        variable = next(v for v in generator.get_layer(layer).weights if v.name == param)
        shape = tuple(variable.shape)
        if param == "kernel":
            shape = (shape[3], shape[2], shape[0], shape[1])
        tensors[name] = rng.normal(size=shape).astype("float32")
    return tensors


def test_manifest_covers_four_styles_with_every_tensor():
    manifest = {style: style_files(style) for style in ("hayao", "hosoda", "paprika", "shinkai")}
    for files in manifest.values():
        assert sorted(f[: -len(".npy")] for f in files) == sorted(UPSTREAM_TENSOR_NAMES)


def test_conversion_transposes_conv_and_transposed_conv_kernels():
    generator = CartoonGanGenerator()
    tensors = _random_upstream_tensors(generator)
    load_upstream_weights(generator, tensors)
    conv = generator.get_layer("res3_conv2").kernel.numpy()  # upstream conv06_2 (out, in, kh, kw)
    np.testing.assert_array_equal(conv[1, 2, 5, 7], tensors["conv06_2.weight"][7, 5, 1, 2])
    deconv = generator.get_layer("up1_deconv").kernel.numpy()  # upstream (in, out, kh, kw)
    np.testing.assert_array_equal(deconv[2, 0, 3, 11], tensors["deconv01_1.weight"][11, 3, 2, 0])


def test_conversion_fails_loudly_on_missing_or_unknown_tensors():
    generator = CartoonGanGenerator()
    tensors = _random_upstream_tensors(generator)
    incomplete = dict(tensors)
    del incomplete["in07_2.shift"]
    with pytest.raises(ValueError, match="res4_norm2/shift"):
        load_upstream_weights(generator, incomplete)
    with pytest.raises(KeyError, match="conv99_1"):
        load_upstream_weights(generator, {**tensors, "conv99_1.weight": np.zeros(1)})


def test_hayao_reproduces_golden_outputs(hayao_preset):
    from cartoongan import load_generator

    golden = np.load(shared_path("golden", "cartoongan_hayao.npz"))
    generator = load_generator(hayao_preset)  # the float32 conversion
    for k in range(4):
        expected = golden[f"hayao/output_{k}"]
        output = generator.predict(golden[f"hayao/input_{k}"], verbose=0)
        assert output.shape == expected.shape  # the odd 75x53 input comes out 76x56
        assert np.abs(output - expected).max() <= 1e-4, k
