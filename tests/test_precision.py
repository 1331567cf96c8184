"""Choosing the arithmetic (cartoongan.precision): `auto` picks what the machine runs
natively, a named precision reaches the generator's convolutions, and the default (auto)
stays faithful to float32. The per-network dtype policies (which layers stay float32) are
tested for every network in tests/models/test_models.py."""

import numpy as np
import pytest
from PIL import Image

from cartoongan import precision
from tests.conftest import psnr, shared_path


@pytest.mark.parametrize("name", ["float32", "bfloat16", "float16"])
def test_a_named_precision_is_kept(name):
    assert precision.resolve(name) == name


@pytest.mark.parametrize("name", ["int8", "fp32", "", None])
def test_unknown_precisions_are_refused_by_name(name):
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.resolve(name)


@pytest.mark.parametrize("gpu, flags, expected", [
    (True, {"avx2"}, "float16"),
    (False, {"avx2", "avx512_bf16"}, "bfloat16"),
    (False, {"amx_bf16"}, "bfloat16"),
    (False, {"avx2", "avx512f"}, "float32"),  # bfloat16 would be emulated: slower than float32
    (False, set(), "float32"),  # no /proc/cpuinfo
])
def test_auto_picks_the_arithmetic_this_machine_runs_natively(monkeypatch, gpu, flags, expected):
    monkeypatch.setattr(precision, "has_gpu", lambda: gpu)
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    assert precision.resolve("auto") == expected


@pytest.mark.parametrize("gpu, flags, expected", [
    (False, {"avx2", "avx512_bf16"}, "bfloat16"),
    (False, {"amx_bf16"}, "bfloat16"),
    (False, {"avx2", "avx512f"}, "float32"),  # bfloat16 would be emulated: slower than float32
    (True, {"avx512_bf16"}, "float32"),  # not float16: its loss scaling changes the checkpoint
    (True, set(), "float32"),
])
def test_training_auto_picks_native_bfloat16_and_never_float16(monkeypatch, gpu, flags, expected):
    monkeypatch.setattr(precision, "has_gpu", lambda: gpu)
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    assert precision.resolve_training("auto") == expected
    assert precision.resolve_training("float16") == "float16"  # asked for by name
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.resolve_training("fp16")


def test_each_precision_has_its_keras_dtype_policy():
    assert [precision.dtype_policy(name) for name in ("float32", "bfloat16", "float16")] == [
        None, "mixed_bfloat16", "mixed_float16"]


@pytest.mark.parametrize("name, compute_dtype", [("float32", "float32"), ("bfloat16", "bfloat16")])
def test_the_precision_reaches_the_generators_convolutions(tiny_preset, name, compute_dtype):
    from cartoongan.inference import Cartoonizer

    cartoonizer = Cartoonizer.from_pretrained(str(tiny_preset), precision=name)
    assert cartoonizer.generator.get_layer("stem_conv").compute_dtype == compute_dtype
    assert cartoonizer.generator.get_layer("stem_norm").compute_dtype == "float32"
    output = cartoonizer(np.zeros((9, 13, 3), np.uint8))
    assert output.dtype == np.uint8 and output.shape == (9, 13, 3)


def test_auto_precision_stays_faithful_to_float32(hayao_preset):
    from cartoongan import Cartoonizer

    photo = shared_path("data", "eval", "animegan_comparison", "photos", "105.jpg")
    image = np.asarray(Image.open(photo).convert("RGB").resize((256, 256)))
    fast = Cartoonizer.from_pretrained(hayao_preset, precision="auto")
    exact = Cartoonizer.from_pretrained(hayao_preset, precision="float32")
    assert psnr(fast(image), exact(image)) >= 45.0
