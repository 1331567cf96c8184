"""The styles that can be downloaded: ONE table, read by `cartoongan.presets` (names a user
may ask for, what --list-styles and the web page say) and `cartoongan.weights.convert`
(how each is fetched, checked and converted). Facts only: no imports, so reading it costs
nothing. A new family is one row here and one converter in `convert.CONVERTERS`.

Every file is downloaded from `CARTOONGAN_WEIGHTS_URL` as `<style>/<file>` when that is set
(a mirror of this layout), else from the row's `source_url` (the upstream folder at a pinned
commit, or the upstream copy), and checked against its sha256 before it is read.
"""

import dataclasses

CARTOONGAN_LICENSE = (
    "weights by the CartoonGAN authors (Chen et al., CVPR 2018), as redistributed by "
    "mnicnc404/CartoonGan-tensorflow (Apache-2.0 repository); research use"
)
_CARTOONGAN_URL = ("https://raw.githubusercontent.com/mnicnc404/CartoonGan-tensorflow/master/"
                   "style_transfer/cartoongan/pretrained_weights/{style}")
# The manifest shipped in the package: sha256 of the 94 tensors of each CartoonGAN style.
CARTOONGAN_MANIFEST = "cartoongan_sha256.txt"


@dataclasses.dataclass(frozen=True)
class StyleSource:
    name: str
    family: str  # the generator family: a key of convert.CONVERTERS
    description: str  # for people: what it looks like, how fast, the licence in a word
    details: str  # for the curious: paper, architecture, provenance
    license: str
    channel_order: str  # what the weights take and give: "RGB" or "BGR", in [-1, 1]
    source_url: str  # upstream folder holding `files`
    files: dict = dataclasses.field(default_factory=dict)  # file name -> sha256 (empty: the manifest)
    size_multiple: int = 4  # the generator's total stride; inputs are padded to it


def _cartoongan(style, artist, look):
    return StyleSource(
        name=style, family="cartoongan",
        description=f"{look} The original CartoonGAN (2018): the slowest style here. Research use only.",
        details=f"CartoonGAN (Chen et al., CVPR 2018), {artist} style: 11.1 M parameters, instance norms, "
                f"transposed-conv upsampling. Colours shift strongly (skies may turn orange or khaki).",
        license=CARTOONGAN_LICENSE, channel_order="BGR", source_url=_CARTOONGAN_URL.format(style=style))


STYLE_TABLE = {row.name: row for row in [
    _cartoongan("hayao", "Hayao Miyazaki", "Miyazaki-like painted anime look with soft shading and bold colour changes."),
    _cartoongan("hosoda", "Mamoru Hosoda", "Hosoda-like anime look: bright, high-contrast, simple shading."),
    _cartoongan("paprika", "Satoshi Kon's Paprika", "Paprika-like look: saturated, textured, psychedelic colours."),
    _cartoongan("shinkai", "Makoto Shinkai", "Shinkai-like look: luminous skies, blue-green tints, fine detail."),
    StyleSource(
        name="whitebox", family="whitebox",
        description="Clean cartoon that keeps the photo's colours: flat colour areas and dark ink edges. "
                    "About 7x faster than hayao. Non-commercial use only (CC BY-NC-SA 4.0).",
        details="White-box Cartoonization (Wang & Yu, CVPR 2020): a U-Net generator (1.5 M parameters) "
                "followed by a guided filter, converted from the float16 TFLite file of "
                "margaretmz/Cartoonizer-with-TFLite (reproduced to > 100 dB PSNR).",
        license="White-box Cartoonization weights by Wang & Yu: CC BY-NC-SA 4.0 (non-commercial); "
                "TFLite conversion by margaretmz/Cartoonizer-with-TFLite (Apache-2.0 repository)",
        channel_order="BGR",
        source_url="https://raw.githubusercontent.com/margaretmz/Cartoonizer-with-TFLite/"
                   "b2cfa4a0547edaa63ba4e20dc555dc6fc79c22f9/android/app/src/main/ml",
        files={"whitebox_cartoon_gan_fp16.tflite": "7ebaaf2c3e83eb8332f19b333da507aa43752d2b418df9e67808a77d8432de02"}),
    StyleSource(
        name="animeganv2_hayao", family="animegan_v2",
        description="Miyazaki-style anime painting that keeps the photo's colours: smooth shading, soft "
                    "outlines, crisp skies. About 1.3x faster than hayao. Non-commercial use only.",
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
]}
