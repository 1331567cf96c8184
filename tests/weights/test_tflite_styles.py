"""The TFLite-born styles (White-box, AnimeGANv2 Hayao): the flatbuffer reader against
LiteRT's own view of the shared files, the converters against outputs LiteRT computes here
from those files, converter failures named, the download over loopback, tiles."""

import glob
import os
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

from cartoongan.families.animegan_v2.convert import animegan_v2_scopes, load_animegan_v2_tflite
from cartoongan.families.animegan_v2.generator import AnimeGanV2Generator
from cartoongan.families.whitebox.convert import load_whitebox_tflite
from cartoongan.families.whitebox.generator import WhiteboxGenerator
from cartoongan.models.layers import ImageLayerNormalization, ReflectionPadding2D
from cartoongan.weights.tflite import TFLiteError, TFLiteModel
from tests.conftest import psnr, required_module, shared_path


def _interpreter(path, **options):
    litert = required_module("ai_edge_litert.interpreter")  # computes the references
    return litert.Interpreter(model_path=path, **options)


def _resolver():
    return required_module("ai_edge_litert.interpreter").OpResolverType


WHITEBOX = ("whitebox", "whitebox_cartoon_gan_fp16.tflite")
ANIMEGAN = ("animeganv2_hayao", "animeganv2_hayao_256x256_integer_quant.tflite")


def _file(style_and_name):
    return str(shared_path("weights", "cartoongan", *style_and_name))


def _photos(size, count=3):
    """Held-out photos (never trained on), resized to the file's fixed input, in [-1, 1] RGB."""
    paths = sorted(glob.glob(str(shared_path("data", "eval", "animegan_comparison", "photos") / "*")))[:count]
    return [(np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BICUBIC), np.float32)
             / 127.5 - 1)[None] for p in paths]


def _litert(path, x, delegates=True):
    """The file's output under LiteRT; `delegates=False`: LiteRT's own builtin kernels, without
    the default XNNPACK delegate (whose int8 kernels round differently: 30.6-33.1 dB from
    the builtin kernels' output on the AnimeGANv2 file)."""
    options = {} if delegates else {"experimental_op_resolver_type": _resolver().BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    interpreter = _interpreter(path, num_threads=2, **options)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.ascontiguousarray(x))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def _uint8(y):
    return np.clip(np.round((np.asarray(y) + 1) * 127.5), 0, 255).astype(np.uint8)


# ---- the reader


@pytest.mark.parametrize("which", [WHITEBOX, ANIMEGAN], ids=["whitebox", "animegan"])
def test_reader_constants_equal_litert_dequantized_by_hand(which):
    """Every constant: our dequantized float32 equals LiteRT's stored values dequantized
    here with LiteRT's own scales, zero points and quantized dimension."""
    path = _file(which)
    model = TFLiteModel(path)
    interpreter = _interpreter(path)
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    checked = 0
    for index, tensor in model.constants().items():
        detail = details[index]
        assert detail["name"] == tensor.name and tuple(detail["shape"]) == tensor.shape
        stored = interpreter.get_tensor(index)
        q = detail["quantization_parameters"]
        if len(q["scales"]):
            shape = [1] * stored.ndim
            if len(q["scales"]) > 1:
                shape[q["quantized_dimension"]] = -1
            expected = (stored.astype(np.float64) - q["zero_points"].reshape(shape)) * q["scales"].reshape(shape)
        else:
            expected = stored.astype(np.float64)
        np.testing.assert_allclose(model.constant(index), expected, rtol=1e-6, atol=1e-12, err_msg=tensor.name)
        checked += 1
    assert checked == len(model.constants()) > 40


def test_truncated_or_foreign_file_is_refused_naming_it(tmp_path):
    data = open(_file(WHITEBOX), "rb").read()
    for name, content in [("half.tflite", data[: len(data) // 2]), ("head.tflite", data[:4096]),
                          ("photo.tflite", b"\xff\xd8\xff\xe0" + bytes(100))]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(TFLiteError, match=name):
            load_whitebox_tflite(WhiteboxGenerator(), TFLiteModel(tmp_path / name))


def test_a_tensor_naming_a_buffer_past_the_buffers_is_refused_by_name(tmp_path):
    """A constant whose buffer index is rewritten past the last buffer would otherwise read as
    an activation (no values), and the file would load."""
    from tensorflow.lite.python import schema_py_generated as schema

    data = bytearray(open(_file(WHITEBOX), "rb").read())
    model = schema.Model.GetRootAs(data, 0)
    graph = model.Subgraphs(0)
    tensor = next(graph.Tensors(i) for i in range(graph.TensorsLength()) if graph.Tensors(i).Buffer() > 0)
    field = tensor._tab.Offset(8)  # Tensor.buffer is the table's third field
    data[tensor._tab.Pos + field: tensor._tab.Pos + field + 4] = (model.BuffersLength() + 7).to_bytes(4, "little")
    (tmp_path / "bad.tflite").write_bytes(bytes(data))
    name = tensor.Name().decode()
    with pytest.raises(TFLiteError, match=rf"bad.tflite: tensor \d+ '{name}' names buffer {model.BuffersLength() + 7} of "):
        TFLiteModel(tmp_path / "bad.tflite")


@pytest.mark.parametrize("config, message", [
    (dict(num_residual_blocks=5), r"without a source tensor: .*res5_1_conv/kernel"),  # a variable left over
    (dict(num_residual_blocks=3), r"generator/block_3/conv1/Conv2D.*no layer"),  # a tensor left over
    (dict(filters=16), r"tensor 'generator/Conv/Conv2D': shape \(7, 7, 3, 32\).*stem_conv/kernel \(7, 7, 3, 16\)"),
])
def test_whitebox_converter_failures_name_the_tensor_or_variable(config, message):
    with pytest.raises(TFLiteError, match=message):
        load_whitebox_tflite(WhiteboxGenerator(**config), _file(WHITEBOX))


def test_animegan_converter_failures_name_the_tensor():
    with pytest.raises(TFLiteError, match=r"generator/G_MODEL/C/r4/Conv/Conv2D.*no layer"):
        load_animegan_v2_tflite(AnimeGanV2Generator(num_residual_blocks=3), _file(ANIMEGAN))


# ---- parity against LiteRT running the shared files


def _float_psnr(a, b):
    """PSNR of two float images in [-1, 1] (peak-to-peak 2), in dB."""
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(4 / mse))


def test_whitebox_float32_reproduces_the_fp16_file():
    """The same float16 weights, BGR input, compared before rounding to uint8: measured
    112.7-117.0 dB on all 22 held-out photos (the test scores the first 3; rounded to uint8
    the outputs are 83.0-85.6 dB apart, a few values one level off). >= 105 dB leaves
    room for another CPU's float rounding, not for a wrong constant or layer."""
    generator = WhiteboxGenerator()
    load_whitebox_tflite(generator, _file(WHITEBOX))
    for x in _photos(224):
        bgr = np.ascontiguousarray(x[..., ::-1])
        reference = _litert(_file(WHITEBOX), bgr)
        assert _float_psnr(generator(bgr), reference) >= 105


def _fake_quantize(y, tensor):
    """Float -> the tensor's int8 grid (TFLite's QUANTIZE rounds half away from zero) -> float."""
    q = tensor.quantization
    scale, zero = float(q.scales[0]), int(q.zero_points[0])
    v = np.asarray(y, np.float64) / scale
    return ((np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5) + zero, -128, 127) - zero) * scale).astype(np.float32)


def _requantize(values, multiplier, half_up=False):
    """TFLite's integer requantization, bit for bit: each multiplier as a 31-bit fixed-point
    number and a power-of-two shift (QuantizeMultiplier), a rounding doubling high multiply,
    then a rounding right shift (MultiplyByQuantizedMultiplier). Two roundings, not one: it
    matters where the shift is small (LeakyReLU's slope branch, multiplier ~0.3, lands up to
    a quarter LSB off a single rounding). The element-wise kernels round the shift half away
    from zero; the convolutions' matrix kernels (`half_up`) round it half up, which decides
    exact ties. `multiplier` is a scalar or one per channel (last axis)."""
    fraction, shift = np.frexp(np.asarray(multiplier, np.float64))
    fixed = np.floor(fraction * 2.0 ** 31 + 0.5).astype(np.int64)
    shift = np.where(fixed == 2 ** 31, shift + 1, shift).astype(np.int64)
    fixed = np.where(fixed == 2 ** 31, fixed // 2, fixed)
    product = (np.asarray(values, np.int64) << np.maximum(shift, 0)) * fixed
    product = product + np.where(product >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(product >= 0, product >> 31, -((-product) >> 31))
    exponent = np.maximum(-shift, 0)
    if half_up:
        return (high + ((np.int64(1) << exponent) >> 1)) >> exponent
    mask = (np.int64(1) << exponent) - 1
    return (high >> exponent) + ((high & mask) > (mask >> 1) + (high < 0))


def _scale(tensor):
    return np.float64(tensor.quantization.scales[0])


def _offsets(x, tensor):
    """A value on `tensor`'s int8 grid -> its integers minus the zero point."""
    return np.round(np.asarray(x, np.float64) / _scale(tensor)).astype(np.int64)


def _from_offsets(y, tensor):
    """Integers minus `tensor`'s zero point -> saturated to int8 -> float."""
    zero = int(tensor.quantization.zero_points[0])
    return ((np.clip(y + zero, -128, 127) - zero) * _scale(tensor)).astype(np.float32)


def _leaky_relu_int8(x, source, target, slope):
    """TFLite's int8 LEAKY_RELU: each branch requantized from `source`'s grid to `target`'s."""
    d = _offsets(x, source)
    ratio = _scale(source) / _scale(target)
    return _from_offsets(np.where(d >= 0, _requantize(d, ratio), _requantize(d, np.float64(slope) * ratio)), target)


def _mul_int8(a, a_grid, b, b_grid, target):
    """TFLite's int8 MUL: the product of the integers, requantized once."""
    product = _offsets(a, a_grid) * _offsets(b, b_grid)
    return _from_offsets(_requantize(product, _scale(a_grid) * _scale(b_grid) / _scale(target)), target)


def _conv_int8(layer, x, source, op, model, target):
    """TFLite's int8 CONV_2D / DEPTHWISE_CONV_2D: the converted layer's kernel back on the
    file's per-channel int8 grid, exact integer sums (float64 holds them), the int32 bias,
    one requantization per output channel."""
    import tensorflow as tf

    weight_scales = model.tensors[model.constant_source(op.inputs[1])].quantization.scales.astype(np.float64)
    depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
    kernel = np.asarray(layer.kernel, np.float64) / (weight_scales[:, None] if depthwise else weight_scales)
    kernel = np.round(kernel)
    strides = [1, *layer.strides, 1]
    inputs = _offsets(x, source).astype(np.float64)
    if depthwise:
        sums = tf.nn.depthwise_conv2d(inputs, kernel, strides, "VALID").numpy()
    else:
        sums = tf.nn.conv2d(inputs, kernel, strides, "VALID").numpy()
    if layer.use_bias:
        sums = sums + np.round(np.asarray(layer.bias, np.float64) / (_scale(source) * weight_scales))
    multiplier = _scale(source) * weight_scales / _scale(target)
    return _from_offsets(_requantize(sums.astype(np.int64), multiplier, half_up=True), target)


def _resize_int8(x, source, target):
    """TFLite's int8 RESIZE_BILINEAR (TF1 corners: align_corners and half-pixel centres
    off): 10-bit fixed-point positions, the stored int8 values (zero point included)
    weighted, rounded half away from zero; the output keeps the input's grid."""
    assert _scale(source) == _scale(target) and source.quantization.zero_points[0] == target.quantization.zero_points[0]
    raw = _offsets(x, source) + int(source.quantization.zero_points[0])

    def positions(size):
        step = ((1 << 10) * size + size) // (2 * size)  # output is twice the input
        scaled = np.arange(2 * size, dtype=np.int64) * step
        low = scaled // (1 << 10)
        high = np.minimum((scaled + (1 << 10) - 1) // (1 << 10), size - 1)
        return low, high, scaled - (1 << 10) * low

    y0, y1, fy = positions(raw.shape[1])
    x0, x1, fx = positions(raw.shape[2])
    fy, fx = fy[None, :, None, None], fx[None, None, :, None]
    rows0, rows1 = raw[:, y0], raw[:, y1]
    total = ((rows0[:, :, x0] * (1024 - fy) + rows1[:, :, x0] * fy) * (1024 - fx)
             + (rows0[:, :, x1] * (1024 - fy) + rows1[:, :, x1] * fy) * fx)
    total = total + np.where(total > 0, 1 << 19, -(1 << 19))
    rounded = np.where(total >= 0, total >> 20, -((-total) >> 20))
    return _from_offsets(rounded - int(target.quantization.zero_points[0]), target)


def _simulated_int8(generator, model, activations, x):
    """The converted generator with the file's int8 activations simulated, op for op as the
    file computes them: every tensor the file quantizes (input, conv, each layer-norm step,
    LeakyReLU, resize, residual sums, tanh) is put on the file's own int8 grid; the ops
    whose integer kernels round differently from float-then-round (conv, MUL, LeakyReLU,
    resize) are computed as TFLite's integer kernels compute them."""
    names = {t.name: t for t in model.tensors}
    norm_scopes = {layer: scope for scope, layer in animegan_v2_scopes().items() if layer.endswith("_norm")}
    extra = {"d_resize": "D/resize/ResizeBilinear", "e_resize": "E/resize/ResizeBilinear",
             "out_tanh": "out_layer/Tanh_int8", **{f"c_r{k}_add": f"C/r{k}/add" for k in (2, 3, 4)}}

    def norm(x, x_grid, layer):
        scope = norm_scopes[layer.name]
        grid = lambda suffix: names[f"{scope}/{suffix}"]
        step = lambda value, suffix: _fake_quantize(value, grid(suffix))
        mean = step(x.mean(axis=(1, 2, 3), keepdims=True), "moments/mean")
        variance = step(step((x - mean) ** 2, "moments/SquaredDifference_int8").mean(axis=(1, 2, 3), keepdims=True),
                        "moments/variance")
        rsqrt = step(1 / np.sqrt(step(variance + layer.epsilon, "batchnorm/add")), "batchnorm/Rsqrt_int8")
        multiplier = _mul_int8(rsqrt, grid("batchnorm/Rsqrt_int8"), np.asarray(layer.scale), grid("gamma"),
                               grid("batchnorm/mul"))
        mean_times = _mul_int8(mean, grid("moments/mean"), multiplier, grid("batchnorm/mul"), grid("batchnorm/mul_2"))
        offset = step(np.asarray(layer.shift) - mean_times, "batchnorm/sub")
        scaled = _mul_int8(x, x_grid, multiplier, grid("batchnorm/mul"), grid("batchnorm/mul_1"))
        return step(scaled + offset, "batchnorm/add_1"), grid("batchnorm/add_1")

    grid = {id(generator.inputs[0]): names["input_int8"]}  # the file tensor whose grid a value is on
    values = {id(generator.inputs[0]): _fake_quantize(x, names["input_int8"])}
    for layer in generator.layers[1:]:
        node = layer._inbound_nodes[0]
        inputs = [values[id(t)] for t in node.input_tensors]
        source = grid[id(node.input_tensors[0])]
        if isinstance(layer, ImageLayerNormalization):
            y, target = norm(inputs[0], source, layer)
        elif isinstance(layer, keras.layers.LeakyReLU):
            target = model.tensors[activations[layer.name]]
            y = _leaky_relu_int8(inputs[0], source, target, layer.negative_slope)
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            target = model.tensors[activations[layer.name]]
            y = _conv_int8(layer, inputs[0], source, model.producer[activations[layer.name]], model, target)
        elif layer.name in ("d_resize", "e_resize"):
            target = names["generator/G_MODEL/" + extra[layer.name]]
            y = _resize_int8(inputs[0], source, target)
        else:
            y = np.asarray(layer(inputs if len(inputs) > 1 else inputs[0]))
            target = names["generator/G_MODEL/" + extra[layer.name]] if layer.name in extra else None
            if target is not None:
                y = _fake_quantize(y, target)
            else:
                assert isinstance(layer, ReflectionPadding2D), layer.name  # keeps its input's grid
                target = source
        values[id(node.outputs[0])], grid[id(node.outputs[0])] = y, target
    return values[id(generator.outputs[0])]


@pytest.mark.slow
def test_animegan_float32_and_simulated_int8_against_the_int8_file():
    """Float32 weights vs the int8 file (activations quantized too): >= 22 dB (measured
    25.5-30.0; a wrong norm falls far below). With the file's int8 graph simulated op for op
    on the converted weights: >= 40 dB to LiteRT's builtin kernels (measured: identical
    uint8 outputs on all 22 held-out photos, the 3 this test scores included, for suite
    time; one weight of c1's kernel one LSB off already
    gives 37.4 dB, the depthwise convs left in float 25.5). Under the default
    XNNPACK delegate, whose int8 kernels round differently, the same simulation is
    30.6-33.1 dB, as far as XNNPACK is from LiteRT's own kernels."""
    model = TFLiteModel(_file(ANIMEGAN))
    generator = AnimeGanV2Generator()
    activations = load_animegan_v2_tflite(generator, model)
    for x in _photos(256):
        floating = psnr(_uint8(generator(x)), _uint8(_litert(_file(ANIMEGAN), x)))
        simulated = psnr(_uint8(_simulated_int8(generator, model, activations, x)),
                         _uint8(_litert(_file(ANIMEGAN), x, delegates=False)))
        assert floating >= 22
        assert simulated >= 40, (floating, simulated)


# ---- the styles: download over loopback, cache, Cartoonizer, tiles


@pytest.fixture(scope="module", params=["whitebox", "animeganv2_hayao"])
def downloaded(request, session_home):
    from cartoongan.presets import fetch_style

    return request.param, fetch_style(request.param)


def test_style_is_fetched_checked_converted_and_cached(downloaded):
    from cartoongan.presets import STYLES, read_preset_config

    style, directory = downloaded
    config = read_preset_config(directory)
    assert config["license"] == STYLES[style].license and "non-commercial" in config["license"].lower()
    assert config["description"] == STYLES[style].description
    assert config["preprocessing"]["channel_order"] == ("BGR" if style == "whitebox" else "RGB")
    assert sorted(os.listdir(directory)) == ["config.json", "model.weights.h5"]


@pytest.mark.slow
def test_cartoonizer_any_size_and_exact_tiles(downloaded):
    """Odd sizes come back at their size; 64-pixel tiles equal the whole image up to
    float rounding: measured on this photo 97.9 dB (White-box) and 91.9 dB (AnimeGANv2),
    at most 4 of 94,671 values one level apart (two other photos: 93.1-97.9 dB or identical)."""
    from cartoongan import Cartoonizer

    style, directory = downloaded
    photos = sorted(glob.glob(str(shared_path("data", "eval", "animegan_comparison", "photos") / "*")))
    image = np.asarray(Image.open(photos[5]).convert("RGB"))[:201, :157]
    whole = Cartoonizer.from_pretrained(str(directory), precision="float32", tile_size=0)(image)
    tiled = Cartoonizer.from_pretrained(str(directory), precision="float32", tile_size=64)(image)
    assert whole.shape == image.shape
    assert np.abs(whole.astype(int) - tiled).max() <= 1
    assert psnr(whole, tiled) >= 85, psnr(whole, tiled)


@pytest.mark.parametrize("which", [WHITEBOX, ANIMEGAN], ids=["whitebox", "animegan"])
def test_corrupt_copy_is_refused_and_nothing_is_left(tmp_path, http_server, monkeypatch, which):
    from cartoongan.presets import fetch_style
    from cartoongan.weights.download import ChecksumError

    style, name = which
    mirror = tmp_path / "mirror" / style
    mirror.mkdir(parents=True)
    data = bytearray(open(_file(which), "rb").read())
    data[len(data) // 2] ^= 0x01
    (mirror / name).write_bytes(bytes(data))
    home = tmp_path / "home"
    monkeypatch.setenv("CARTOONGAN_HOME", str(home))
    monkeypatch.setenv("CARTOONGAN_WEIGHTS_URL", http_server(tmp_path / "mirror"))
    with pytest.raises(ChecksumError, match=name):
        fetch_style(style)
    assert not home.exists()  # not even an empty presets/ folder


def test_failed_fetch_keeps_a_cache_that_existed(tmp_path, monkeypatch):
    from cartoongan.presets import fetch_style
    from cartoongan.weights.download import DownloadError

    home = tmp_path / "home"
    (home / "presets" / "other").mkdir(parents=True)
    monkeypatch.setenv("CARTOONGAN_HOME", str(home))
    monkeypatch.setenv("CARTOONGAN_WEIGHTS_URL", str(tmp_path / "nowhere"))
    with pytest.raises(DownloadError, match="whitebox_cartoon_gan_fp16.tflite"):
        fetch_style("whitebox")
    assert sorted(os.listdir(home / "presets")) == ["other"]
    shutil.rmtree(home)


@pytest.mark.slow
def test_fine_tuning_starts_from_the_style(downloaded, tmp_path):
    """`cartoongan-train --init-from <style>`: three steps (one content-only, two GAN with the
    project's own discriminator) run, and the preset keeps the style's class and channel
    order, with weights moved from the style's but near them."""
    from cartoongan.cli.build_tfrecords import main as build_main
    from cartoongan.cli.train import main as train_main
    from cartoongan.presets import load_preset

    style, directory = downloaded
    rng = np.random.default_rng(0)
    for family in ("photos", "anime"):
        (tmp_path / family).mkdir()
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / family / f"{i}.png")
    assert build_main(["--photos", str(tmp_path / "photos"), "--anime", str(tmp_path / "anime"), "--output",
                       str(tmp_path / "records"), "--image-size", "40", "--workers", "1"]) == 0
    assert train_main(["--data", str(tmp_path / "records"), "--workdir", str(tmp_path / "work"), "--init-from", style,
                       "--init-steps", "1", "--steps", "3", "--batch-size", "2", "--image-size", "32",
                       "--vgg-weights", "random", "--checkpoint-every", "3", "--sample-every", "100"]) == 0
    tuned, preprocessing, _ = load_preset(str(tmp_path / "work" / "preset"))
    original, original_preprocessing, _ = load_preset(str(directory))
    assert type(tuned) is type(original) and preprocessing == original_preprocessing
    moved = [np.abs(np.asarray(a) - np.asarray(b)).max() for a, b in zip(tuned.weights, original.weights)]
    assert 0 < max(moved) < 0.05, max(moved)
