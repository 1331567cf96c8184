"""Exported SavedModel / TFLite / ONNX models, reloaded in their own runtimes, against the
in-memory Cartoonizer: same uint8 contract, any size, matching pixels."""

import inspect
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from cartoongan import export
from cartoongan.cli.export import main
from cartoongan.families import GENERATOR_BOUNDS, generator_class
from cartoongan.inference import Cartoonizer
from cartoongan.presets import Preprocessing, load_preset, save_preset
from tests.conftest import PROJECT_ROOT, psnr, required_module, shared_path

SIZES = [(1, 1), (5, 7), (135, 134)]
MIN_PSNR = {"savedmodel": 50.0, "tflite": 40.0, "onnx": 45.0}


# --- runtimes -----------------------------------------------------------------------------


def run_saved_model(path, batch):
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    return serve(images=tf.constant(batch))[export.OUTPUT_NAME].numpy()


def tflite_interpreter(path):
    with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice
        warnings.simplefilter("ignore")
        return tf.lite.Interpreter(model_path=str(path))


def run_tflite(path, batch):
    interpreter = tflite_interpreter(path)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(batch.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, batch)
    interpreter.invoke()
    details = interpreter.get_output_details()[0]
    if not np.prod(details["shape"]):
        # The Python binding refuses to hand out a zero-byte tensor ("Invalid tensor size.",
        # LiteRT's too); the model's answer is the output's shape and type.
        return np.zeros(details["shape"], details["dtype"])
    return interpreter.get_tensor(details["index"])


def run_onnx(path, batch):
    onnxruntime = required_module("onnxruntime")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {export.INPUT_NAME: batch})[0]


RUNTIMES = {"savedmodel": run_saved_model, "tflite": run_tflite, "onnx": run_onnx}


def random_image(size, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def assert_matches(fmt, path, cartoonizer, images, min_psnr):
    """Each image through the exported model (as a batch of one) equals the Cartoonizer."""
    for image in images:
        output = RUNTIMES[fmt](path, image[None])
        assert output.dtype == np.uint8 and output.shape == (1, *image.shape), (fmt, output.shape)
        score = psnr(output[0], cartoonizer(image))
        assert score >= min_psnr, (fmt, image.shape, score)


# --- the tiny preset, every format ------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_exported(tiny_preset, tmp_path_factory):
    required_module("tf2onnx")
    out = tmp_path_factory.mktemp("export") / "tiny"
    return export.export_preset(str(tiny_preset), out, formats=export.FORMATS, quantize=["float16"])


@pytest.fixture(scope="module")
def tiny_cartoonizer(tiny_preset):
    generator, preprocessing, _ = load_preset(str(tiny_preset))
    return Cartoonizer(generator, preprocessing, precision="float32")


def test_writes_the_documented_layout_and_no_partial_files(tiny_exported):
    out = tiny_exported["savedmodel"].parent
    assert set(tiny_exported) == {"savedmodel", "tflite", "tflite-float16", "onnx"}
    assert tiny_exported["savedmodel"] == out / "saved_model"
    assert (out / "saved_model" / "saved_model.pb").is_file()
    assert tiny_exported["tflite"] == out / "model.tflite"
    assert tiny_exported["tflite-float16"] == out / "model_float16.tflite"
    assert tiny_exported["onnx"] == out / "model.onnx"
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx", "model.tflite", "model_float16.tflite", "saved_model"]


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_any_size_matches_in_memory_cartoonizer(tiny_exported, tiny_cartoonizer, fmt):
    images = [random_image(size, seed) for seed, size in enumerate(SIZES)]
    assert_matches(fmt, tiny_exported[fmt], tiny_cartoonizer, images, MIN_PSNR[fmt])


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_a_batch_of_two_matches_the_cartoonizer_image_by_image(tiny_exported, tiny_cartoonizer, fmt):
    batch = np.stack([random_image((9, 14), 1), random_image((9, 14), 2)])
    output = RUNTIMES[fmt](tiny_exported[fmt], batch)
    assert output.dtype == np.uint8 and output.shape == batch.shape
    for image, result in zip(batch, output):
        assert psnr(result, tiny_cartoonizer(image)) >= MIN_PSNR[fmt]


# N, H or W zero: no runtime fails; each answers an empty uint8 batch of the input's shape.
EMPTY_SHAPES = [(0, 5, 7, 3), (1, 0, 7, 3), (2, 6, 0, 3), (0, 0, 0, 3), (3, 0, 0, 3)]


@pytest.mark.parametrize("shape", EMPTY_SHAPES)
@pytest.mark.parametrize("fmt", export.FORMATS)
def test_empty_batch_or_image_gives_an_empty_result(tiny_exported, fmt, shape):
    output = RUNTIMES[fmt](tiny_exported[fmt], np.zeros(shape, np.uint8))
    assert output.dtype == np.uint8 and output.shape == shape


def test_the_float16_variant_answers_an_empty_batch_with_an_empty_one(tiny_exported):
    output = run_tflite(tiny_exported["tflite-float16"], np.zeros((0, 4, 4, 3), np.uint8))
    assert output.dtype == np.uint8 and output.shape == (0, 4, 4, 3)


def test_serving_function_answers_empty_inputs_and_keeps_the_rest(tiny_cartoonizer):
    """The wrapper itself, in TensorFlow: empty in, empty out; a 1x1 and a 5x7 image are
    exactly the Cartoonizer's (the same graph, so bit-identical)."""
    serve = export.serving_function(tiny_cartoonizer.generator, tiny_cartoonizer.preprocessing)
    for shape in EMPTY_SHAPES:
        output = serve(tf.zeros(shape, tf.uint8))[export.OUTPUT_NAME]
        assert output.dtype == tf.uint8 and tuple(output.shape) == shape
    for size in [(1, 1), (5, 7)]:
        image = random_image(size, 3)
        output = serve(tf.constant(image[None]))[export.OUTPUT_NAME].numpy()[0]
        np.testing.assert_array_equal(output, tiny_cartoonizer(image))


def test_litert_signature_runner_maps_images_to_cartoons_at_any_size(tiny_exported, tiny_cartoonizer):
    """The README's LiteRT example (`ai-edge-litert`, tf.lite.Interpreter's successor): one
    signature, `images` in and `cartoons` out; the runner resizes for each size itself."""
    litert = required_module("ai_edge_litert.interpreter")
    interpreter = litert.Interpreter(model_path=str(tiny_exported["tflite"]))
    assert interpreter.get_signature_list() == {"serving_default": {"inputs": ["images"], "outputs": ["cartoons"]}}
    runner = interpreter.get_signature_runner()
    for seed, size in enumerate([(5, 7), (33, 20)]):
        image = random_image(size, seed)
        output = runner(images=image[None])["cartoons"]
        assert output.dtype == np.uint8 and output.shape == (1, *size, 3)
        assert psnr(output[0], tiny_cartoonizer(image)) >= MIN_PSNR["tflite"]


def test_signatures_are_uint8_with_dynamic_size(tiny_exported):
    serve = tf.saved_model.load(str(tiny_exported["savedmodel"])).signatures["serving_default"]
    (spec,) = serve.structured_input_signature[1].values()
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, None, None, 3]
    assert serve.structured_outputs[export.OUTPUT_NAME].dtype == tf.uint8

    details = tflite_interpreter(tiny_exported["tflite"]).get_input_details()[0]
    assert details["dtype"] == np.uint8 and list(details["shape_signature"]) == [-1, -1, -1, 3]

    onnx = required_module("onnx")
    model = onnx.load(str(tiny_exported["onnx"]))
    (graph_input,) = model.graph.input
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    dims = graph_input.type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [0, 0, 0, 3]  # 0: symbolic (dynamic)


@pytest.mark.parametrize("name", ["tflite", "tflite-float16"])
def test_tflite_uses_builtin_ops_only(tiny_exported, name):
    path = tiny_exported[name]
    ops = {op["op_name"] for op in tflite_interpreter(path)._get_ops_details()}
    assert "CONV_2D" in ops and "MIRROR_PAD" in ops
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops
    # Variables must have been frozen into constants (they would run uninitialised).
    assert not ops & {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"}, ops
    report = _analyzer_report(path)
    assert "Flex" not in report and "CONV_2D" in report


def _analyzer_report(path):
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        tf.lite.experimental.Analyzer.analyze(model_path=str(path), gpu_compatibility=False)
    return buffer.getvalue()


def test_tflite_float16_variant_is_smaller_and_faithful(tiny_exported, tiny_cartoonizer):
    # Smaller, not half: about 30 KB of the file is the graph itself, beside the tiny model's
    # 12,519 weights (measured: 80,740 bytes in float32, 59,012 with float16 weights).
    assert tiny_exported["tflite-float16"].stat().st_size < tiny_exported["tflite"].stat().st_size
    assert_matches("tflite", tiny_exported["tflite-float16"], tiny_cartoonizer, [random_image((33, 20))], 40.0)


def test_int8_weights_variant_has_builtin_ops_and_runs(tiny_preset, tmp_path):
    generator, preprocessing, _ = load_preset(str(tiny_preset))
    path = export.export_tflite(generator, preprocessing, tmp_path / "q.tflite", quantize="int8-weights")
    ops = {op["op_name"] for op in tflite_interpreter(path)._get_ops_details()}
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops
    output = run_tflite(path, random_image((5, 7))[None])
    assert output.dtype == np.uint8 and output.shape == (1, 5, 7, 3)


def test_failed_conversion_leaves_nothing(tiny_preset, tmp_path, monkeypatch):
    required_module("tf2onnx")
    from tf2onnx import convert

    def broken(*args, output_path=None, **kwargs):
        with open(output_path, "wb") as f:
            f.write(b"half a model")
        raise RuntimeError("conversion failed")

    monkeypatch.setattr(convert, "_convert_common", broken)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="conversion failed"):
        export.export_preset(str(tiny_preset), out, formats=["onnx"])
    assert list(out.iterdir()) == []


# --- every registered generator class -----------------------------------------------------


def _small_generator(cls):
    accepted = inspect.signature(cls.__init__).parameters
    config = {k: v for k, v in {"filters": 8, "num_residual_blocks": 1}.items() if k in accepted}
    return cls(**config)


# Padding multiples other than 4: AnimeGANv3 has stride 8, and its reflection-padded 1/8 map
# needs 2 pixels, so a 5x7 image is padded to 16x16.
_SIZE_MULTIPLES = {"AnimeGanV3Generator": 16}


@pytest.mark.parametrize("class_name", sorted(GENERATOR_BOUNDS))
def test_every_generator_class_exports(class_name, tmp_path):
    required_module("tf2onnx")
    import keras

    keras.utils.set_random_seed(0)
    generator = _small_generator(generator_class(class_name))
    preset = save_preset(generator, tmp_path / "preset", Preprocessing("RGB", _SIZE_MULTIPLES.get(class_name, 4)),
                         name=class_name)
    written = export.export_preset(str(preset), tmp_path / "out", formats=["tflite", "onnx"])
    generator, preprocessing, _ = load_preset(str(preset))
    cartoonizer = Cartoonizer(generator, preprocessing, precision="float32")
    images = [random_image((5, 7)), random_image((37, 22), 1)]
    for fmt in ("tflite", "onnx"):
        assert_matches(fmt, written[fmt], cartoonizer, images, MIN_PSNR[fmt])
    ops = {op["op_name"] for op in tflite_interpreter(written["tflite"])._get_ops_details()}
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops


# --- the real hayao model ---------------------------------------------------------------------


@pytest.mark.slow
def test_hayao_every_format_matches_in_memory(hayao_preset, tmp_path):
    required_module("tf2onnx")
    photo = Image.open(shared_path("data", "eval", "animegan_comparison", "photos", "105.jpg")).convert("RGB")
    images = [np.asarray(photo)[100:167, 50:95], random_image((5, 7))]  # 67x45 and 5x7
    written = export.export_preset("hayao", tmp_path / "hayao")
    generator, preprocessing, _ = load_preset("hayao")
    cartoonizer = Cartoonizer(generator, preprocessing, precision="float32")
    for fmt in export.FORMATS:
        assert_matches(fmt, written[fmt], cartoonizer, images, MIN_PSNR[fmt])


@pytest.mark.slow
@pytest.mark.parametrize("style", ["whitebox", "animeganv2_hayao"])
def test_tflite_born_styles_export_at_odd_sizes(style, session_home, tmp_path):
    """Unlike the peers' fixed 224/256 files: 67x45 and 5x7 through every format, against the
    in-memory Cartoonizer (the guided filter and layer norms are builtin ops too)."""
    required_module("tf2onnx")
    photo = Image.open(shared_path("data", "eval", "animegan_comparison", "photos", "105.jpg")).convert("RGB")
    images = [np.asarray(photo)[100:167, 50:95], random_image((5, 7))]
    written = export.export_preset(style, tmp_path / style)
    generator, preprocessing, _ = load_preset(style)
    cartoonizer = Cartoonizer(generator, preprocessing, precision="float32")
    for fmt in export.FORMATS:
        assert_matches(fmt, written[fmt], cartoonizer, images, MIN_PSNR[fmt])
    ops = {op["op_name"] for op in tflite_interpreter(written["tflite"])._get_ops_details()}
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops


# --- command line ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--preset", "{preset}", "--format", "tflite,gif", "--output", "{out}"], "unknown format 'gif'"),
        (["--preset", "{preset}", "--format", ",", "--output", "{out}"], "no format"),
        (["--preset", "{preset}", "--quantize", "int4", "--output", "{out}"], "unknown quantization"),
        (["--preset", "{preset}", "--format", "onnx", "--quantize", "float16", "--output", "{out}"], "tflite"),
        (["--style", "no-such-style", "--output", "{out}"], "unknown style"),
        (["--preset", "{tmp}/no-such-preset", "--output", "{out}"], "not a preset directory"),
        (["--style", "hayao", "--preset", "{preset}", "--output", "{out}"], "not allowed with"),
        (["--output", "{out}"], "one of the arguments --style --preset is required"),
        (["--preset", "{preset}"], "--output"),
    ],
)
def test_wrong_flags_fail_before_any_work(flags, message, tmp_path, tiny_preset, monkeypatch, capsys):
    def no_work(*args, **kwargs):
        raise AssertionError("export started")

    monkeypatch.setattr(export, "export_preset", no_work)
    argv = [f.format(preset=tiny_preset, out=tmp_path / "out", tmp=tmp_path) for f in flags]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_output_that_is_a_file_fails(tmp_path, tiny_preset, capsys):
    target = tmp_path / "out"
    target.write_text("a file")
    with pytest.raises(SystemExit) as exit_info:
        main(["--preset", str(tiny_preset), "--output", str(target)])
    assert exit_info.value.code == 2
    assert "not a folder" in capsys.readouterr().err


def test_output_below_a_file_fails_before_any_work(tmp_path, tiny_preset, monkeypatch, capsys):
    (tmp_path / "file").write_text("a file")
    monkeypatch.setattr(export, "export_preset", lambda *args, **kwargs: pytest.fail("export started"))
    with pytest.raises(SystemExit) as exit_info:
        main(["--preset", str(tiny_preset), "--output", str(tmp_path / "file" / "sub" / "out")])
    assert exit_info.value.code == 2
    assert f"{tmp_path / 'file'} is not a folder" in capsys.readouterr().err


def test_output_parents_are_created(tmp_path, tiny_preset, monkeypatch):
    """`--output exported/hayao` on a fresh clone, where exported/ does not exist yet."""
    monkeypatch.chdir(tmp_path)
    assert main(["--preset", str(tiny_preset), "--format", "tflite", "--output", "exported/deeper/tiny"]) == 0
    assert [p.name for p in (tmp_path / "exported" / "deeper" / "tiny").iterdir()] == ["model.tflite"]


def test_script_end_to_end(tiny_preset, tiny_cartoonizer, tmp_path):
    """The real entry point, in a subprocess: TFLite and its int8-weights variant."""
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "tools" / "export.py"), "--preset", str(tiny_preset),
         "--format", "tflite", "--quantize", "int8-weights", "--output", str(out)],
        capture_output=True, text=True, env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["model.tflite", "model_int8_weights.tflite"]
    assert str(out / "model.tflite") in result.stdout
    assert_matches("tflite", out / "model.tflite", tiny_cartoonizer, [random_image((135, 134))], MIN_PSNR["tflite"])


def test_a_fine_tuned_generator_exports_with_its_paths(tmp_path):
    """A fine-tune's generator (photo path from the photo's 5x5 median, soft ink path; their
    weights non-zero, as training leaves them) exports to TFLite with builtin ops only and to
    ONNX, both matching the in-memory Cartoonizer at odd sizes."""
    required_module("tf2onnx")
    import keras

    from cartoongan.families.cartoongan.generator import CartoonGanGenerator

    keras.utils.set_random_seed(0)
    generator = CartoonGanGenerator(filters=8, num_residual_blocks=1, photo_path=1, ink_path=2, photo_path_median=5)
    rng = np.random.default_rng(0)
    for name in ("stem_photo_conv", "head_photo_conv", "ink_photo_conv"):
        layer = generator.get_layer(name)
        layer.set_weights([rng.normal(0, 0.01, w.shape).astype("float32") for w in layer.get_weights()])
    preset = save_preset(generator, tmp_path / "preset", Preprocessing("RGB", 4), name="fine_tuned")
    written = export.export_preset(str(preset), tmp_path / "out", formats=["tflite", "onnx"])
    cartoonizer = Cartoonizer(*load_preset(str(preset))[:2], precision="float32")
    images = [random_image((5, 7)), random_image((37, 22), 1)]
    for fmt in ("tflite", "onnx"):
        assert_matches(fmt, written[fmt], cartoonizer, images, MIN_PSNR[fmt])
    ops = {op["op_name"] for op in tflite_interpreter(written["tflite"])._get_ops_details()}
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops
