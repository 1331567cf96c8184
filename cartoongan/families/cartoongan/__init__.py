"""CartoonGAN (Chen et al., CVPR 2018): the original generator and its four published styles,
per-tensor `.npy` files of mnicnc404/CartoonGan-tensorflow at a pinned commit."""

from cartoongan.families.family import Family, StyleSource

LICENSE = (
    "weights by the CartoonGAN authors (Chen et al., CVPR 2018), as redistributed by "
    "mnicnc404/CartoonGan-tensorflow (Apache-2.0 repository); research use"
)
# The commit whose files the manifest (sha256.txt) lists.
_SOURCE_URL = ("https://raw.githubusercontent.com/mnicnc404/CartoonGan-tensorflow/"
               "114f5604058860c4748739b1fa7701db1076d1f3/style_transfer/cartoongan/pretrained_weights/{style}")


def _style(style, artist, look):
    return StyleSource(
        name=style, family="cartoongan",
        description=f"{look} The original CartoonGAN (2018). Research use only.",
        details=f"CartoonGAN (Chen et al., CVPR 2018), {artist} style: 11.1 M parameters, instance norms, "
                f"transposed-conv upsampling. Colours shift strongly (skies may turn orange or khaki).",
        license=LICENSE, channel_order="BGR", source_url=_SOURCE_URL.format(style=style))


FAMILY = Family(
    name="cartoongan",
    generator="cartoongan.families.cartoongan.generator:CartoonGanGenerator",
    converters="cartoongan.families.cartoongan.convert:convert_npy_files",
    bounds={"filters": (1, 256), "num_residual_blocks": (0, 32),
            "photo_path": (0, 1), "photo_path_gain": (1, 1000), "ink_path": (0, 2),
            "photo_path_median": (0, 9)},
    styles=(
        _style("hayao", "Hayao Miyazaki", "Miyazaki-like painted anime look with soft shading and bold colour changes."),
        _style("hosoda", "Mamoru Hosoda", "Hosoda-like anime look: bright, high-contrast, simple shading."),
        _style("paprika", "Satoshi Kon's Paprika", "Paprika-like look: saturated, textured, psychedelic colours."),
        _style("shinkai", "Makoto Shinkai", "Shinkai-like look: luminous skies, blue-green tints, fine detail."),
    ),
    aliases=("full",),  # the name training used before families had folders
    manifest="cartoongan.families.cartoongan:sha256.txt",
)
