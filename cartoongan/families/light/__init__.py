"""The light generator of CartoonGan-tensorflow (depthwise-separable blocks): trained and
distilled here (`pretrained/hayao_lite`), converted from the upstream's TF2 checkpoints by
`cartoongan-convert-light-checkpoint`; no downloadable style."""

from cartoongan.families.family import Family

FAMILY = Family(
    name="light",
    generator="cartoongan.families.light.generator:LightGenerator",
    bounds={"filters": (1, 256), "num_residual_blocks": (0, 32), "end_kernel_size": (1, 15),
            "photo_path": (0, 1), "photo_path_gain": (1, 1000), "ink_path": (0, 2),
            "photo_path_median": (0, 9)},
)
