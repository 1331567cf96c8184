"""The AnimeGANv3 family: each published file against its own runtime (TensorFlow for the
frozen graphs, onnxruntime for the ONNX files) at several sizes, odd multiples of the stride
included; independent float16 copies of the graphs; converter failures named; tiles; the
styles fetched over loopback; photos smaller than the generators take."""

import functools
import glob

import numpy as np
import pytest
from PIL import Image

from tests.conftest import psnr, required_module, shared_path

PB_FILES = {"animeganv3_hayao": "AnimeGANv3_Hayao_36.pb", "animeganv3_shinkai": "AnimeGANv3_Shinkai_37.pb"}
ONNX_FILES = {"animeganv3_sketch": "AnimeGANv3_PortraitSketch_fp16.onnx",
              "animeganv3_face": "AnimeGANv3_JP_face_v1.0_fp16.onnx",
              "animeganv3_cute": "AnimeGANv3_tiny_Cute.onnx"}
# Each style's generator layout: a small random one of it serves the tests that need no weights.
LAYOUTS = {"animeganv3_hayao": {}, "animeganv3_shinkai": {}, "animeganv3_sketch": {"attention_layer_norm": 1},
           "animeganv3_face": {"face_layout": 1}, "animeganv3_cute": {"tiny_layout": 1}}
PB_OUTPUT = "generator_1/main/out_layer:0"
# 256x256, a non-square 200x328 and 120x88 (15 x 11 times the stride 8)
SIZES = [(256, 256), (200, 328), (120, 88)]
# The same for the tiny layout's stride 16: 208x336 (13 x 21 times 16) and 112x80 (7 x 5)
SIZES_16 = [(256, 256), (208, 336), (112, 80)]


def _file(style):
    return str(shared_path("weights", "cartoongan", style, {**PB_FILES, **ONNX_FILES}[style]))


@functools.cache
def _converted(style):
    from cartoongan.families.animegan_v3.convert import convert_graphdef_file, convert_onnx_file

    convert = convert_graphdef_file if style in PB_FILES else convert_onnx_file
    return convert({"file": _file(style)})


def _inputs(sizes=SIZES):
    """Held-out photos (never trained on), one per size, resized to it, RGB in [-1, 1]."""
    photos = sorted(glob.glob(str(shared_path("data", "eval", "animegan_comparison", "photos") / "*")))
    return [(np.asarray(Image.open(photos[i]).convert("RGB").resize((w, h), Image.BICUBIC), np.float32)
             / 127.5 - 1)[None] for i, (h, w) in enumerate(sizes)]


def _graph_def(path):
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())
    return graph_def


def _run_graph_def(graph_def, inputs):
    """The frozen graph under TensorFlow's own runtime (import_graph_def in a TF1 session), on
    each input."""
    import tensorflow as tf

    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            return [session.run(PB_OUTPUT, {"AnimeGANv3_input:0": x}) for x in inputs]


def _run_onnx(path, x):
    onnxruntime = required_module("onnxruntime")
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0]
    dtype = np.float16 if "float16" in feed.type else np.float32
    return session.run(None, {feed.name: x.astype(dtype)})[0].astype(np.float32)


def _psnr_unit(a, b):
    """PSNR of two [-1, 1] maps (peak-to-peak 2)."""
    return float(10 * np.log10(4 / np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


# ---- each file under its own runtime


@pytest.mark.parametrize("style", sorted(PB_FILES))
def test_frozen_graphs_are_reproduced(style):
    """float32 graphs: measured 141-144 dB at every size (float32 rounding; a wrong epsilon,
    padding or resize rule costs tens of dB), asserted >= 120."""
    inputs, generator = _inputs(), _converted(style)
    for x, expected in zip(inputs, _run_graph_def(_graph_def(_file(style)), inputs)):
        score = _psnr_unit(generator(x).numpy(), expected)
        assert score >= 120, (style, x.shape, score)


def test_sketch_onnx_file_is_reproduced():
    """The float16 PortraitSketch file under onnxruntime (float16 arithmetic): measured 71.6-72.8
    dB from our float32 model at every size, asserted >= 65 (>= 45 is the bar for float16 files)."""
    generator = _converted("animeganv3_sketch")
    for x in _inputs():
        score = _psnr_unit(generator(x).numpy(), _run_onnx(_file("animeganv3_sketch"), x))
        assert score >= 65, (x.shape, score)


def test_face_onnx_file_is_reproduced():
    """The float16 JP_face file (the other layout: layer norms, instance norm after the
    attention) under onnxruntime: measured 83.1-84.7 dB from our float32 model at every size,
    asserted >= 75 (a wrong norm axis, epsilon or skip costs tens of dB)."""
    generator = _converted("animeganv3_face")
    for x in _inputs():
        score = _psnr_unit(generator(x).numpy(), _run_onnx(_file("animeganv3_face"), x))
        assert score >= 75, (x.shape, score)


def test_cute_onnx_file_is_reproduced():
    """The float32 tiny_Cute file (the third layout: folded batch norms, residual bottlenecks at
    1/16, one LADE) under onnxruntime: measured 122.2-132.7 dB at the three sizes, asserted
    >= 100 (float32 rounding; >= 50 is the bar for float32 files)."""
    generator = _converted("animeganv3_cute")
    for x in _inputs(SIZES_16):
        score = _psnr_unit(generator(x).numpy(), _run_onnx(_file("animeganv3_cute"), x))
        assert score >= 100, (x.shape, score)


@pytest.mark.parametrize("layout, shapes", [
    ({"attention_layer_norm": 1}, [(1, 16, 16, 3), (2, 24, 40, 3)]),
    ({"face_layout": 1}, [(1, 16, 16, 3), (2, 24, 40, 3)]),
    ({"tiny_layout": 1}, [(1, 32, 32, 3), (2, 48, 80, 3)]),
], ids=["scenery", "face", "tiny"])
def test_any_multiple_of_the_stride_and_config_round_trip(layout, shapes):
    """A small random generator of each layout keeps any multiple of its stride (8; 16 for the
    tiny one) from twice the stride on, and rebuilds from its config."""
    import keras

    from cartoongan.families.animegan_v3.generator import AnimeGanV3Generator

    keras.utils.set_random_seed(0)
    generator = AnimeGanV3Generator(filters=4, norm_epsilon_exponent=5, **layout)
    for shape in shapes:
        assert generator(np.zeros(shape, np.float32)).shape == shape
    rebuilt = AnimeGanV3Generator.from_config(generator.get_config())
    assert rebuilt.get_config() == generator.get_config() and rebuilt.count_params() == generator.count_params()


# ---- converter failures name the constant


def _edited_graph(tmp_path, edit):
    import tensorflow as tf

    graph_def = _graph_def(_file("animeganv3_shinkai"))
    nodes = {node.name: node for node in graph_def.node}
    edit(graph_def, nodes, tf)
    path = tmp_path / "edited.pb"
    path.write_bytes(graph_def.SerializeToString())
    return str(path)


def _set_constant(name, value):
    def edit(graph_def, nodes, tf):
        nodes[name].attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    return edit


def _extra_constant(graph_def, nodes, tf):
    node = graph_def.node.add()
    node.CopyFrom(nodes["generator/base/Conv_1/weights"])
    node.name = "generator/base/Conv_99/weights"


@pytest.mark.parametrize("edit, message", [
    (_set_constant("generator_1/main/add_7/y", np.float32(1e-3)), "'generator_1/main/add_7/y' = 0.0010"),
    (_set_constant("generator_1/base/MirrorPad_6/paddings", np.array([[0, 0], [0, 1], [0, 1], [0, 0]], np.int32)),
     "'generator_1/base/MirrorPad_6/paddings'.*enc4"),
    (_set_constant("generator_1/main/External_attention/batchnorm/add/y", np.float32(1e-5)),
     "'generator_1/main/External_attention/batchnorm/add/y'"),
    (_extra_constant, "'generator/base/Conv_99/weights'.*matches no variable"),
], ids=["epsilon", "padding", "batch-norm-epsilon", "leftover"])
def test_graph_converter_names_what_it_cannot_account_for(tmp_path, edit, message):
    from cartoongan.families.animegan_v3.convert import convert_graphdef_file
    from cartoongan.weights.graphdef import GraphDefError

    with pytest.raises(GraphDefError, match=message):
        convert_graphdef_file({"file": _edited_graph(tmp_path, edit)})


def test_foreign_files_are_refused_naming_them(tmp_path):
    from cartoongan.families.animegan_v3.convert import convert_graphdef_file, convert_onnx_file
    from cartoongan.weights.graphdef import GraphDefError
    from cartoongan.weights.onnx_model import ONNXError

    path = tmp_path / "not-a-model.bin"
    path.write_bytes(b"\xff" * 100)
    with pytest.raises(GraphDefError, match="not-a-model.bin"):
        convert_graphdef_file({"file": str(path)})
    with pytest.raises(ONNXError, match="not-a-model.bin"):
        convert_onnx_file({"file": str(path)})


def test_onnx_converter_names_a_wrong_padding(tmp_path):
    onnx = required_module("onnx")
    from cartoongan.families.animegan_v3.convert import convert_onnx_file
    from cartoongan.weights.onnx_model import ONNXError

    model = onnx.load(_file("animeganv3_sketch"))
    pads = next(node for node in model.graph.node if node.name == "generator/base/MirrorPad_2").input[1]
    tensor = next(t for t in model.graph.initializer if t.name == pads)
    tensor.CopyFrom(onnx.numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64), pads))
    onnx.save(model, tmp_path / "edited.onnx")
    with pytest.raises(ONNXError, match=f"'{pads}' = \\[0, 0, 0, 0, 0, 0, 1, 1\\].*enc2"):
        convert_onnx_file({"file": str(tmp_path / "edited.onnx")})


def _edit_cute(tmp_path, edit):
    onnx = required_module("onnx")
    model = onnx.load(_file("animeganv3_cute"))
    edit(model, onnx)
    onnx.save(model, tmp_path / "edited.onnx")
    return str(tmp_path / "edited.onnx")


def _cute_epsilon(model, onnx):
    """The LADE's second epsilon add reads its own 1e-3 (both read one 1e-5 in the file)."""
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.full((1, 1, 1, 1), 1e-3, np.float32), "epsilon"))
    next(n for n in model.graph.node if n.name == "generator/main/add_5").input[1] = "epsilon"


def _cute_foreign_bias(model, onnx):
    node = next(n for n in model.graph.node if n.name == "generator/main/Conv_4/Conv2D")
    node.input[2] = "generator/main/Conv_5/Conv2D_bias_fused_bn"


def _cute_leftover(model, onnx):
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.ones(16, np.float32), "generator/main/extra"))


@pytest.mark.parametrize("edit, message", [
    (_cute_epsilon, "'epsilon' = \\[0.0010.*LADE's epsilon 1e-05"),
    (_cute_foreign_bias, "'generator/main/Conv_4/Conv2D' adds 'generator/main/Conv_5/Conv2D_bias_fused_bn'.*dec5"),
    (_cute_leftover, "'generator/main/extra' \\(16,\\) \\(read by nothing\\) matches no variable"),
], ids=["epsilon", "bias", "leftover"])
def test_cute_onnx_converter_names_what_it_cannot_account_for(tmp_path, edit, message):
    from cartoongan.families.animegan_v3.convert import convert_onnx_file
    from cartoongan.weights.onnx_model import ONNXError

    with pytest.raises(ONNXError, match=message):
        convert_onnx_file({"file": _edit_cute(tmp_path, edit)})


def test_face_onnx_converter_names_a_wrong_instance_norm_epsilon(tmp_path):
    onnx = required_module("onnx")
    from cartoongan.families.animegan_v3.convert import convert_onnx_file
    from cartoongan.weights.onnx_model import ONNXError

    model = onnx.load(_file("animeganv3_face"))
    node = next(n for n in model.graph.node if n.name.endswith("InstanceNorm/instancenorm/add"))
    tensor = next(t for t in model.graph.initializer if t.name == node.input[1])
    tensor.CopyFrom(onnx.numpy_helper.from_array(np.full((1, 1, 1, 1), 1e-3, np.float16), tensor.name))
    onnx.save(model, tmp_path / "edited.onnx")
    with pytest.raises(ONNXError, match=f"'{tensor.name}'.*instance norm's epsilon"):
        convert_onnx_file({"file": str(tmp_path / "edited.onnx")})


# ---- the styles: fetched over loopback, the Cartoonizer, tiles, export


@pytest.fixture(scope="module")
def hayao_style(session_home):
    from cartoongan.presets import fetch_style

    return fetch_style("animeganv3_hayao")


def _photo(size):
    photos = sorted(glob.glob(str(shared_path("data", "eval", "animegan_comparison", "photos") / "*")))
    return np.asarray(Image.open(photos[4]).convert("RGB").resize(size[::-1], Image.BICUBIC))


def _uint8(y):
    return np.clip(np.round((np.asarray(y) + 1) * 127.5), 0, 255).astype(np.uint8)


def test_style_is_fetched_over_loopback_and_matches_the_graph(hayao_style):
    """Fetched through CARTOONGAN_WEIGHTS_URL, sha256-checked, converted, cached; the float32
    Cartoonizer against the .pb under TensorFlow on a 200x328 photo: measured 101 dB (uint8),
    asserted >= 60."""
    from cartoongan import Cartoonizer
    from cartoongan.presets import read_preset_config

    config = read_preset_config(hayao_style)
    assert "non-commercial" in config["license"].lower()
    assert config["preprocessing"] == {"channel_order": "RGB", "size_multiple": 8, "min_size": 16}
    assert config["generator"]["class_name"] == "AnimeGanV3Generator"
    image = _photo((200, 328))
    expected = _run_graph_def(_graph_def(_file("animeganv3_hayao")), [image[None].astype(np.float32) / 127.5 - 1])[0]
    output = Cartoonizer.from_pretrained(str(hayao_style), precision="float32", tile_size=0)(image)
    assert psnr(output, _uint8(expected[0])) >= 60, psnr(output, _uint8(expected[0]))


@pytest.mark.slow
def test_three_megapixel_tiles_equal_the_whole_image(hayao_style):
    """2048x1536 in 512-pixel tiles against the whole image, float32: exact up to float32
    rounding (the LADE moments and the attention's softmax sums are streamed over tiles)."""
    from cartoongan import Cartoonizer

    image = _photo((1536, 2048))
    whole = Cartoonizer.from_pretrained(str(hayao_style), precision="float32", tile_size=0)(image)
    tiled = Cartoonizer.from_pretrained(str(hayao_style), precision="float32", tile_size=512)(image)
    assert psnr(whole, tiled) >= 60, psnr(whole, tiled)


@pytest.mark.slow
@pytest.mark.parametrize("style", ["animeganv3_hayao", "animeganv3_cute"])
def test_onnx_export_at_an_odd_size_matches_the_cartoonizer(style, session_home, tmp_path):
    """The exported ONNX graph (padding to the stride and to min_size inside it) against the
    Cartoonizer at 301x197 and 5x7: measured 82 dB and equal on cute; asserted >= 45."""
    from cartoongan import Cartoonizer, export
    from cartoongan.presets import fetch_style

    onnxruntime = required_module("onnxruntime")
    required_module("tf2onnx")
    preset = fetch_style(style)
    written = export.export_preset(str(preset), tmp_path / "out", formats=["onnx"])
    session = onnxruntime.InferenceSession(str(written["onnx"]), providers=["CPUExecutionProvider"])
    cartoonizer = Cartoonizer.from_pretrained(str(preset), precision="float32", tile_size=0)
    for size in [(301, 197), (5, 7)]:
        image = _photo(size)
        exported = session.run(None, {export.INPUT_NAME: image[None]})[0][0]
        assert psnr(exported, cartoonizer(image)) >= 45, (size, psnr(exported, cartoonizer(image)))


@pytest.mark.slow
@pytest.mark.parametrize("style", sorted(PB_FILES))
def test_float16_copies_of_the_graphs_agree(style):
    """Independent float16 copies of each frozen graph, made here from the .pb (tf2onnx then
    float16 arithmetic under onnxruntime; TensorFlow's converter with float16 weights under
    LiteRT), against our float32 generator on 384x384 photos: measured 80-82 dB (onnxruntime)
    and 85-87 dB (LiteRT) on hayao; asserted >= 60 and >= 65, above the 50 / 45 dB a float16
    copy is held to."""
    from cartoongan.families.animegan_v3.convert import PB_INPUT, PB_OUTPUT
    from cartoongan.weights import graphdef

    onnxruntime = required_module("onnxruntime")
    litert = required_module("ai_edge_litert.interpreter")
    required_module("tf2onnx")
    path, generator = _file(style), _converted(style)
    session = onnxruntime.InferenceSession(graphdef.float16_onnx(path, PB_INPUT, PB_OUTPUT).SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    interpreter = litert.Interpreter(model_content=graphdef.float16_tflite(path, PB_INPUT, PB_OUTPUT), num_threads=2)
    for x in _inputs([(384, 384)]):
        ours = generator(x).numpy()
        on_onnxruntime = session.run(None, {session.get_inputs()[0].name: x.astype(np.float16)})[0]
        interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        on_litert = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        assert _psnr_unit(ours, on_onnxruntime.astype(np.float32)) >= 60, _psnr_unit(ours, on_onnxruntime)
        assert _psnr_unit(ours, on_litert) >= 65, _psnr_unit(ours, on_litert)


def test_cute_style_is_fetched_and_matches_the_file_at_odd_sizes(session_home):
    """animeganv3_cute fetched through CARTOONGAN_WEIGHTS_URL (sha256-checked, converted,
    cached) and run by the float32 Cartoonizer at odd sizes, which it pads to the stride 16 by
    repeating the last row and column, against the file under onnxruntime on the same padding
    (uint8 results): measured 86.0 dB at 201x327 (a few values one level apart) and equal at
    45x29; asserted >= 60. 64-pixel tiles against the whole image at 201x327: measured 89.9 dB,
    asserted >= 60."""
    from cartoongan import Cartoonizer
    from cartoongan.presets import fetch_style, read_preset_config

    style = fetch_style("animeganv3_cute")
    config = read_preset_config(style)
    assert "non-commercial" in config["license"].lower()
    assert config["preprocessing"] == {"channel_order": "RGB", "size_multiple": 16, "min_size": 32}
    assert config["generator"]["config"]["tiny_layout"] == 1
    cartoonizer = Cartoonizer.from_pretrained(str(style), precision="float32", tile_size=0)
    for size in [(201, 327), (45, 29)]:
        image = _photo(size)
        padded = np.pad(image, [(0, -size[0] % 16), (0, -size[1] % 16), (0, 0)], mode="edge")
        expected = _run_onnx(_file("animeganv3_cute"), padded[None].astype(np.float32) / 127.5 - 1)[0]
        expected = _uint8(expected[: size[0], : size[1]])
        assert psnr(cartoonizer(image), expected) >= 60, (size, psnr(cartoonizer(image), expected))
    image = _photo((201, 327))
    tiled = Cartoonizer.from_pretrained(str(style), precision="float32", tile_size=64)(image)
    assert psnr(tiled, cartoonizer(image)) >= 60, psnr(tiled, cartoonizer(image))


@pytest.mark.parametrize("style", sorted(LAYOUTS))
def test_photos_smaller_than_the_generator_takes_are_padded(style):
    """A 5x7 and a 1x1 photo through each v3 style's layout (a small random generator of it)
    with the style's preprocessing, whole and in 16-pixel tiles: the result has the photo's
    shape (the Cartoonizer pads to the style's min_size, twice the stride, and crops back)."""
    import keras

    from cartoongan import Cartoonizer
    from cartoongan.families import STYLE_TABLE
    from cartoongan.families.animegan_v3.generator import AnimeGanV3Generator
    from cartoongan.presets import STYLES

    assert set(LAYOUTS) == {name for name, row in STYLE_TABLE.items() if row.family == "animegan_v3"}
    keras.utils.set_random_seed(0)
    generator = AnimeGanV3Generator(filters=4, **LAYOUTS[style])
    preprocessing = STYLES[style].preprocessing
    assert preprocessing.min_size == 2 * preprocessing.size_multiple
    rng = np.random.default_rng(0)
    for shape in [(5, 7, 3), (1, 1, 3)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        for tile_size in (0, 16):
            assert Cartoonizer(generator, preprocessing, tile_size=tile_size)(image).shape == shape


@pytest.mark.parametrize("style", [pytest.param("animeganv3_hayao", marks=pytest.mark.slow), "animeganv3_cute"])
def test_fine_tuning_from_a_v3_preset_keeps_its_layout_and_preprocessing(style, tmp_path):
    """Two training steps (one content-only, one GAN) from a small random preset of the
    scenery and the tiny layout, saved with the style's preprocessing, on 32-pixel crops: the
    run's preset is the same generator (class, layout) with the same stride and min_size, its
    weights moved. (`cartoongan-train --init-from animeganv3_hayao` takes the same path.)"""
    import keras

    from cartoongan.families.animegan_v3.generator import AnimeGanV3Generator
    from cartoongan.presets import STYLES, load_preset, save_preset
    from cartoongan.training.trainer import Trainer
    from tests.training.synthetic import synthetic_dataset, tiny_config

    keras.utils.set_random_seed(0)
    start = save_preset(AnimeGanV3Generator(filters=4, **LAYOUTS[style]), tmp_path / "start",
                        STYLES[style].preprocessing, name="start")
    config = tiny_config(tmp_path / "run", generator="animegan_v3", generator_config={}, init_from=str(start),
                         init_steps=1, steps=2, checkpoint_every=2, sample_every=100)
    assert Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False) == 2
    tuned, preprocessing, saved = load_preset(str(tmp_path / "run" / "preset"))
    original, _, _ = load_preset(str(start))
    assert preprocessing == STYLES[style].preprocessing
    assert saved["generator"]["class_name"] == "AnimeGanV3Generator"
    assert tuned.get_config() == original.get_config()
    moved = [np.abs(np.asarray(a) - np.asarray(b)).max() for a, b in zip(tuned.weights, original.weights)]
    assert max(moved) > 0
