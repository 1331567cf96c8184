"""White-box Cartoonization (Wang & Yu, CVPR 2020): a U-Net and a guided filter, converted
from the float16 TFLite file of margaretmz/Cartoonizer-with-TFLite."""

from cartoongan.families.family import Family, StyleSource

FAMILY = Family(
    name="whitebox",
    generator="cartoongan.families.whitebox.generator:WhiteboxGenerator",
    converters="cartoongan.families.whitebox.convert:convert_tflite_file",
    bounds={"filters": (1, 256), "num_residual_blocks": (0, 32)},
    styles=(StyleSource(
        name="whitebox", family="whitebox",
        description="Clean cartoon that keeps the photo's colours: flat colour areas and dark ink edges. "
                    "Non-commercial use only (CC BY-NC-SA 4.0).",
        details="White-box Cartoonization (Wang & Yu, CVPR 2020): a U-Net generator (1.5 M parameters) "
                "followed by a guided filter, converted from the float16 TFLite file of "
                "margaretmz/Cartoonizer-with-TFLite (reproduced to > 100 dB PSNR).",
        license="White-box Cartoonization weights by Wang & Yu: CC BY-NC-SA 4.0 (non-commercial); "
                "TFLite conversion by margaretmz/Cartoonizer-with-TFLite (Apache-2.0 repository)",
        channel_order="BGR",
        source_url="https://raw.githubusercontent.com/margaretmz/Cartoonizer-with-TFLite/"
                   "b2cfa4a0547edaa63ba4e20dc555dc6fc79c22f9/android/app/src/main/ml",
        files={"whitebox_cartoon_gan_fp16.tflite": "7ebaaf2c3e83eb8332f19b333da507aa43752d2b418df9e67808a77d8432de02"}),
    ),
)
