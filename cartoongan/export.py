"""Exporting a preset for deployment: SavedModel, TFLite and ONNX.

Every format carries the whole contract of the in-memory `Cartoonizer`: a uint8 RGB batch
`[N, H, W, 3]` of any height and width in, uint8 RGB of the same shape out. Channel order,
scaling, padding to the generator's stride and cropping back all happen inside the graph,
because every format is traced from the same `cartoongan.inference.uint8_cartoonize_fn`
that the Cartoonizer runs. A deployment only has to hand over pixels. An empty batch or
image (N, H or W zero) gives an empty output of the same shape in every format.

    from cartoongan.export import export_preset
    export_preset("hayao", "exported/", formats=("savedmodel", "tflite", "onnx"))

`check_export` finds what is wrong with a request (formats, style, output folder) before
any work; the command line (`cartoongan.cli.export`) calls it first.

Files and folders appear atomically: each is written under a temporary name beside its
destination and renamed into place once complete.
"""

import contextlib
import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Optional

from cartoongan.atomic import atomic_file
from cartoongan.errors import ParameterError
from cartoongan.options import option, required

FORMATS = ("savedmodel", "tflite", "onnx")
QUANTIZATIONS = ("float16", "int8-weights")
SAVED_MODEL_DIR = "saved_model"
TFLITE_FILE = "model.tflite"
ONNX_FILE = "model.onnx"
INPUT_NAME = "images"
OUTPUT_NAME = "cartoons"
# 17: the opset every current onnxruntime supports, and recent enough for the ops used here.
ONNX_OPSET = 17


def tflite_file(quantize=None):
    """`model.tflite`, or `model_float16.tflite` / `model_int8_weights.tflite`."""
    return TFLITE_FILE if quantize is None else f"model_{quantize.replace('-', '_')}.tflite"


def empty_input_safe(cartoonize):
    """`cartoonize` (uint8 [N, H, W, 3] -> the same shape) made to answer an empty input
    (N, H or W zero) with an empty uint8 output of the input's shape, in every runtime.

    Without it each runtime fails its own way on an empty input (TensorFlow and ONNX on the
    edge-padding gather's index -1, TFLite's XNNPack on an empty batch). The answer is
    control-flow free (slice, pad, tile: TFLite builtins, ONNX ops, no `If` that would keep
    the generator out of the TFLite delegate): an empty input is cut down to at most one
    pixel per axis and padded up to one black pixel, the generator runs on that, and the
    result is cut back and tiled to the input's (empty) shape. A non-empty input passes
    through unchanged (slice, pad and tile by zero and one): bit-identical outputs, and no
    time measurable against the generator (LiteRT, full generator, 256x256).

    TFLite's Python interpreters (tf.lite's and LiteRT's) refuse to hand out a zero-byte
    tensor ("Invalid tensor size."); the empty output's shape is in `get_output_details()`."""
    import tensorflow as tf

    def cartoonize_any_size(images):
        size = tf.shape(images)[:3]  # N, H, W
        empty = tf.cast(tf.equal(tf.reduce_prod(size), 0), tf.int32)
        # `size` unchanged for a non-empty input; for an empty one min(size, 1) per axis
        kept = size - empty * tf.maximum(size - 1, 0)
        # (strided slices, not tf.slice: the channel count stays known to shape inference)
        x = images[: kept[0], : kept[1], : kept[2], :]
        grow = tf.maximum(1 - kept, 0)  # zero unless the input is empty
        paddings = tf.stack([tf.zeros([4], tf.int32), tf.concat([grow, [0]], 0)], axis=1)
        # padded as int32: TFLite's PAD takes no uint8
        x = tf.cast(tf.pad(tf.cast(x, tf.int32), paddings), tf.uint8)
        # a pad by runtime amounts hides the channel count from shape inference, which the
        # TFLite converter needs for the convolutions; a reshape states it again
        x = tf.reshape(x, tf.concat([kept + grow, [3]], 0))
        y = cartoonize(x)[: kept[0], : kept[1], : kept[2], :]
        # tiling min(size, 1) by `size` gives `size` (all ones for a non-empty input)
        multiples = 1 + empty * (size - 1)
        return tf.tile(y, tf.concat([multiples, [1]], 0))

    return cartoonize_any_size


def serving_function(generator, preprocessing, look=None):
    """The tf.function uint8 RGB [None, None, None, 3] -> {OUTPUT_NAME: uint8 RGB} to export;
    `look` (LookOptions): its strength and colour keeping baked in (the style scale is no
    graph op, see `cartoongan.inference.uint8_look_fn`).

    An empty batch or image ([0, H, W, 3], [N, 0, W, 3], ...) gives an empty output of the
    same shape (see `empty_input_safe`)."""
    import tensorflow as tf

    from cartoongan.inference import uint8_cartoonize_fn

    cartoonize = empty_input_safe(uint8_cartoonize_fn(generator, preprocessing, look))

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name=INPUT_NAME)])
    def serve(images):
        return {OUTPUT_NAME: cartoonize(images)}

    return serve


def _serving_module(generator, preprocessing, look=None):
    import tensorflow as tf

    module = tf.Module()
    module.generator = generator  # tracks the variables
    module.serve = serving_function(generator, preprocessing, look)
    return module


def export_saved_model(generator, preprocessing, directory, look=None):
    """Writes a SavedModel whose `serving_default` signature is the uint8 contract.

    Returns the directory written (it replaces any previous one, atomically)."""
    import tensorflow as tf

    from cartoongan.atomic import atomic_directory

    module = _serving_module(generator, preprocessing, look)
    with atomic_directory(directory) as tmp:
        tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve.get_concrete_function()})
    return Path(directory)


def tflite_bytes(generator, preprocessing, quantize=None, look=None):
    """The TFLite flatbuffer of the uint8 contract, TFLite builtin ops only.

    `quantize`: None (float32), "float16" (float16 weights) or "int8-weights" (dynamic-range:
    int8 weights, float activations)."""
    import tensorflow as tf

    if quantize not in (None, *QUANTIZATIONS):
        raise ValueError(f"quantize must be one of {QUANTIZATIONS} or None, not {quantize!r}")
    # The weights are frozen into constants first. Converting the variable-tracking function
    # keeps them as resource variables (VAR_HANDLE/READ_VARIABLE with no initializer, so the
    # interpreter runs on garbage) and leaves them out of weight quantization.
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(serving_function(generator, preprocessing, look).get_concrete_function())
    module = tf.Module()
    module.serve = tf.function(
        lambda images: {OUTPUT_NAME: frozen(images)[0]},
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name=INPUT_NAME)],
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.serve.get_concrete_function()], module)
    # Builtins only: a model needing Flex (SELECT_TF_OPS) would not run in a plain interpreter.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def export_tflite(generator, preprocessing, path, quantize=None, look=None):
    """Writes the TFLite model to `path` (atomically); returns `path`. See `tflite_bytes`."""
    content = tflite_bytes(generator, preprocessing, quantize, look)
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(content)
    return Path(path)


def export_onnx(saved_model_dir, path, opset=ONNX_OPSET):
    """Converts a SavedModel written by `export_saved_model` to ONNX with tf2onnx; returns `path`.

    The input `images` and output `cartoons` keep dynamic batch, height and width."""
    import tensorflow as tf
    from tf2onnx import convert, tf_loader

    graph_def, inputs, outputs, tables, renames = tf_loader.from_saved_model(
        str(saved_model_dir), None, None, tag="serve", signatures=["serving_default"],
        return_initialized_tables=True, return_tensors_to_rename=True,
    )
    with atomic_file(path) as tmp:
        with tf.device("/cpu:0"):
            convert._convert_common(
                graph_def, name="cartoongan", opset=opset, input_names=inputs, output_names=outputs,
                tensors_to_rename=renames, initialized_tables=tables, output_path=tmp,
            )
    return Path(path)


def parse_names(text):
    """`tflite, onnx` -> ["tflite", "onnx"] (a comma-separated list; `check_formats` checks the names)."""
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """What `check_export` is given: the options of `cartoongan-export`, whose --help shows
    this text and the default (exactly one of `style` and `preset`)."""

    output_dir: str = required("folder for saved_model/, model.tflite, model.onnx (created, with its parents)",
                               flag="--output", metavar="DIR")
    style: Optional[str] = option(None, "a registered style name (see cartoonize --list-styles)", metavar="NAME",
                                  shown_default=None)
    preset: Optional[str] = option(None, "a preset directory (config.json + model.weights.h5)", metavar="DIR",
                                   shown_default=None)
    formats: tuple = option(FORMATS, "comma-separated formats among " + ", ".join(FORMATS), flag="--format",
                            type=parse_names, metavar="LIST", shown_default=",".join(FORMATS))
    quantize: tuple = option((), "extra TFLite variants, comma-separated: float16 (model_float16.tflite), "
                             "int8-weights (dynamic-range, model_int8_weights.tflite); model.tflite stays float32",
                             type=parse_names, metavar="LIST", shown_default="none")
    # the look's pointwise controls, baked into every format (the style scale is no graph op)
    strength: float = option(1.0, "in the graph: 0 gives the photo, 1 the full style, values between a blend",
                             metavar="0..1")
    keep_colors: bool = option(False, "in the graph: the result's luma with the photo's chroma (YCbCr)")


def check_formats(formats, quantize=()):
    """Raises ParameterError (`formats`, `quantize`) naming the alternatives for an unknown
    format or quantization, or a quantization without the tflite format."""
    for name in formats:
        if name not in FORMATS:
            raise ParameterError("formats", "{name}: unknown format {format!r}; choose from {known}",
                                 format=name, known=", ".join(FORMATS))
    for name in quantize:
        if name not in QUANTIZATIONS:
            raise ParameterError("quantize", "{name}: unknown quantization {quantize!r}; choose from {known}",
                                 quantize=name, known=", ".join(QUANTIZATIONS))
    if quantize and "tflite" not in formats:
        raise ParameterError("quantize", "{name}: quantization applies to the tflite format, which was not asked for")


def check_export(output_dir, formats=FORMATS, quantize=(), style=None, preset=None):
    """Everything that can be wrong with an export, found before any work (nothing is
    loaded or written). Exactly one of `style` (a registered name) and `preset` (a preset
    directory) names what to export. Returns that name or path.

    Raises ParameterError naming the parameter at fault (`formats`, `quantize`, `style`,
    `preset`, `output_dir`: a file, or missing folders below a file; missing folders are
    created later), ValueError or PresetError for a preset that cannot be read."""
    import importlib.util

    from cartoongan.presets import STYLES, check_preset_name, embedded_presets, is_preset_dir

    formats, quantize = tuple(formats), tuple(quantize)
    if not formats:
        raise ParameterError("formats", "{name}: no format given")
    check_formats(formats, quantize)
    if (style is None) == (preset is None):
        raise ValueError("give exactly one of style and preset")
    if style is not None and style not in STYLES and style not in embedded_presets():
        raise ParameterError("style", "{name}: unknown style {style!r}; available styles: {known} "
                             "(use {names[preset]} for a preset directory)",
                             style=style, known=", ".join([*embedded_presets(), *STYLES]))
    if preset is not None and not is_preset_dir(preset):
        raise ParameterError("preset", "{name} {preset}: not a preset directory (no config.json)", preset=preset)
    check_preset_name(style or preset)
    output = os.path.abspath(output_dir)
    if os.path.exists(output) and not os.path.isdir(output):
        raise ParameterError("output_dir", "{name} {output} exists and is not a folder", output=output_dir)
    ancestor = os.path.dirname(output)
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ParameterError("output_dir", "{name} {output}: {ancestor} is not a folder",
                             output=output_dir, ancestor=ancestor)
    if "onnx" in formats:
        missing = [m for m in ("tf2onnx", "onnx") if importlib.util.find_spec(m) is None]
        if missing:
            raise ParameterError("formats", "{name} onnx needs {missing}: pip install 'cartoongan[export]'",
                                 missing=", ".join(missing))
    return style or preset


def export_preset(name_or_path, output_dir, formats=FORMATS, quantize=(), log=None, look=None):
    """Exports a preset (style name or preset directory) in float32 to `output_dir`:
    `saved_model/`, `model.tflite` (+ one `model_<quantize>.tflite` per quantization) and
    `model.onnx`, for the formats asked; `look`: a LookOptions whose strength and colour
    keeping every format bakes in. Returns {label: path written}."""
    from cartoongan.presets import load_preset

    formats, quantize = tuple(formats), tuple(quantize)
    check_formats(formats, quantize)
    log = log or (lambda message: None)
    generator, preprocessing, _ = load_preset(name_or_path)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    if "savedmodel" in formats:
        written["savedmodel"] = export_saved_model(generator, preprocessing, output_dir / SAVED_MODEL_DIR, look)
        log(f"wrote {written['savedmodel']}")
    if "tflite" in formats:
        for variant in (None, *quantize):
            label = "tflite" if variant is None else f"tflite-{variant}"
            written[label] = export_tflite(generator, preprocessing, output_dir / tflite_file(variant), variant, look)
            log(f"wrote {written[label]}")
    if "onnx" in formats:
        with contextlib.ExitStack() as stack:
            saved_model = written.get("savedmodel")
            if saved_model is None:
                scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix=".onnx-", dir=output_dir))
                saved_model = export_saved_model(generator, preprocessing, Path(scratch) / SAVED_MODEL_DIR, look)
            written["onnx"] = export_onnx(saved_model, output_dir / ONNX_FILE)
        log(f"wrote {written['onnx']}")
    return written
