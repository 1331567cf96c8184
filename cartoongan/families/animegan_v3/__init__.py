"""AnimeGANv3 (Chen 2022-2023): LADE norms, external attention, skip connections; converted
from the authors' frozen TF1 graphs (`.pb`) and tf2onnx exports (`.onnx`)."""

from cartoongan.families.family import Family, StyleSource

LICENSE = ("AnimeGANv3 weights by the AnimeGANv3 author (TachibanaYoshino/AnimeGANv3): "
           "non-commercial use only")
_ARCHITECTURE = ("an encoder of conv -> LADE (linearly adaptive denormalization) -> LeakyReLU blocks, external "
                 "attention at 1/8 resolution, a decoder with skip connections (1.0 M parameters)")


_FACE_ARCHITECTURE = ("an encoder of conv -> layer norm -> LeakyReLU blocks (a stride-2 conv and two convs per "
                      "level), external attention with an instance norm at 1/8 resolution, a decoder of three "
                      "blocks per level with skip connections (1.5 M parameters)")


_TINY_ARCHITECTURE = ("conv -> LeakyReLU blocks (the authors' batch norms folded into the convolutions' weights "
                      "and biases) down to 1/16 resolution, two residual bottlenecks, a decoder with skip "
                      "connections, one LADE block before the conv to RGB (0.6 M parameters)")


def input_sizes(config):
    """(size_multiple, min_size) of an AnimeGanV3Generator config: its total stride (three
    stride-2 convs, four with tiny_layout=1) and twice that, since the smallest map (1/stride)
    must be at least 2x2 for its 3x3 convs to reflection-pad it."""
    stride = 16 if config.get("tiny_layout", 0) else 8
    return stride, 2 * stride


def _style(name, description, details, source_url, filename, sha256, upstream_note="", architecture=_ARCHITECTURE,
           layout=None):
    """A style row; `layout`: the generator parameters its file sets that decide its sizes."""
    size_multiple, min_size = input_sizes(layout or {})
    return StyleSource(
        name=name, family="animegan_v3", description=description,
        details=f"AnimeGANv3 (Chen 2022-2023), {details}: {architecture}. Converted from {filename} "
                f"({source_url.split('/')[3]}/{source_url.split('/')[4]}{upstream_note}).",
        license=LICENSE, channel_order="RGB", source_url=source_url, files={filename: sha256},
        size_multiple=size_multiple, min_size=min_size)


FAMILY = Family(
    name="animegan_v3",
    generator="cartoongan.families.animegan_v3.generator:AnimeGanV3Generator",
    converters={".pb": "cartoongan.families.animegan_v3.convert:convert_graphdef_file",
                ".onnx": "cartoongan.families.animegan_v3.convert:convert_onnx_file"},
    bounds={"filters": (1, 256), "norm_epsilon_exponent": (1, 30), "softmax_epsilon_exponent": (1, 30),
            "attention_layer_norm": (0, 1), "face_layout": (0, 1), "tiny_layout": (0, 1)},
    input_sizes=input_sizes,
    styles=(
        _style("animeganv3_hayao",
               "Miyazaki-style anime painting that keeps the photo's colours: flattened shading, drawn "
               "outlines, softened skin and skies. Non-commercial use only.",
               "Hayao weights, release 36 (float32 frozen graph, reproduced to > 140 dB PSNR)",
               "https://raw.githubusercontent.com/trumpzhang/AnimeGANv3/"
               "fbf3c24ccd9bbf0c38f9ff41369acd4dd4b0c0f3/models/my", "AnimeGANv3_Hayao_36.pb",
               "58bc25bfeec1375047fb8f1d672a1ba6a7a93c266a3769a86c248374f986cf13",
               ", a fork of the authors' repository"),
        _style("animeganv3_shinkai",
               "Shinkai-style anime painting: the photo's colours with more contrast and saturation, "
               "flattened shading and drawn outlines. Non-commercial use only.",
               "Shinkai weights, release 37 (float32 frozen graph, reproduced to > 140 dB PSNR)",
               "https://raw.githubusercontent.com/tuanmjnh/AnimeGANv3_Video/"
               "68b721c853d00a417eda9f18c2e950dfb7cdc60e/resources", "AnimeGANv3_Shinkai_37.pb",
               "ecae7b7dc212e2dcb5f484ac50946740cd6b5e630233989799a35526f611a0a9"),
        _style("animeganv3_sketch",
               "Black-and-white ink sketch made for portraits (face crops): bold black strokes on white; "
               "scenes become abstract blotches. Non-commercial use only.",
               "PortraitSketch weights (float16 ONNX, opset 13; reproduced to about 72 dB PSNR against the "
               "file under onnxruntime, whose float16 arithmetic is most of the difference)",
               "https://raw.githubusercontent.com/zeeblaze/meetig-AI-T/"
               "a2ef1c2e78bd71a0d17b0b89f8b4d758feefe693/models/quantized-models",
               "AnimeGANv3_PortraitSketch_fp16.onnx",
               "b78d071098843614408f55760acfff670afb597d035d198a9a122e37f8b10b88"),
        _style("animeganv3_face",
               "Japanese-anime faces, made for face crops: pale flat skin, drawn outlines, sometimes "
               "anime eyes; eyes and mouths can wash out. It lightens every face (measured on 120 selfies: "
               "skin to L* 86-91 whatever its tone, the darkest third by +36 L*) and roughly halves the "
               "colour (chroma). Non-commercial use only.",
               "JP_face weights v1.0, the authors' second generator layout (layer norms, three convs per "
               "level, instance norm after the attention; float16 ONNX, opset 9; reproduced to 83-85 dB "
               "PSNR against the file under onnxruntime, whose float16 arithmetic is most of the "
               "difference)",
               "https://raw.githubusercontent.com/zeeblaze/meetig-AI-T/"
               "e75c13523d4db0bdfa3e2a8c0dd842dd70e14185/models/quantized-models",
               "AnimeGANv3_JP_face_v1.0_fp16.onnx",
               "696daebf32d80d25b54072901fdfcf80775176c7e06fe678be1ea93ea6f97c18",
               architecture=_FACE_ARCHITECTURE),
        _style("animeganv3_cute",
               "Cute 3D-cartoon faces, made for face crops: airbrushed skin, larger glossy eyes, drawn brows "
               "and lips; skin tones kept (measured on 120 selfies: L* within 4 of the photo's in each third, "
               "chroma +1.6). Scenes are smoothed into soft patches and darkened. Non-commercial use only.",
               "tiny_Cute weights, the authors' small generator layout (float32 ONNX, opset 15; reproduced to "
               "122-133 dB PSNR against the file under onnxruntime)",
               "https://raw.githubusercontent.com/tuanmjnh/AnimeGANv3_Video/"
               "68b721c853d00a417eda9f18c2e950dfb7cdc60e/resources", "AnimeGANv3_tiny_Cute.onnx",
               "3ef02d6b2939a0e81621abc5beb0e741bb58654570033cd0e97f6b6ef37c1171",
               architecture=_TINY_ARCHITECTURE, layout={"tiny_layout": 1}),
    ),
)
