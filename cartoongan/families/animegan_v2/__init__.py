"""AnimeGANv2 (Chen et al. 2020): layer norms and inverted residual blocks, converted from
the int8 TFLite file of terryky/tflite_gles_app."""

from cartoongan.families.family import Family, StyleSource

FAMILY = Family(
    name="animegan_v2",
    generator="cartoongan.families.animegan_v2.generator:AnimeGanV2Generator",
    converters="cartoongan.families.animegan_v2.convert:convert_tflite_file",
    bounds={"filters": (1, 256), "num_residual_blocks": (0, 32)},
    styles=(StyleSource(
        name="animeganv2_hayao", family="animegan_v2",
        description="Miyazaki-style anime painting that keeps the photo's colours: smooth shading, soft "
                    "outlines, crisp skies. Non-commercial use only.",
        details="AnimeGANv2 (Chen et al. 2020), Hayao weights: layer norms and inverted residual blocks "
                "(2.1 M parameters), converted from the int8 TFLite file of terryky/tflite_gles_app "
                "(dequantized weights; the file's int8 activations are not reproduced, so ours are smoother).",
        license="AnimeGANv2 weights by the AnimeGANv2 authors: non-commercial use only; TFLite file from "
                "terryky/tflite_gles_app (MIT repository)",
        channel_order="RGB",
        source_url="https://raw.githubusercontent.com/terryky/tflite_gles_app/"
                   "bfc2015a6d1234deebc9574798b175a6d1b2afc2/gl2animegan2/model",
        files={"animeganv2_hayao_256x256_integer_quant.tflite":
               "7d9157db18ad9238a7189c4f56786dbb865f980e219c167def0988fc67ffe5e0"}),
    ),
)
