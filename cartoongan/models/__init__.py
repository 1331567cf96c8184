"""Network definitions. `GENERATORS` maps the class names stored in presets to classes."""

from cartoongan.models.animegan_v2_generator import AnimeGanV2Generator
from cartoongan.models.cartoongan_generator import CartoonGanGenerator
from cartoongan.models.light_generator import LightGenerator
from cartoongan.models.whitebox_generator import WhiteboxGenerator

GENERATORS = {
    "CartoonGanGenerator": CartoonGanGenerator,
    "LightGenerator": LightGenerator,
    "WhiteboxGenerator": WhiteboxGenerator,
    "AnimeGanV2Generator": AnimeGanV2Generator,
}


def build_generator(class_name, config, dtype=None):
    """Instantiates a generator from its preset entry; `dtype` is the convolutions' policy."""
    if class_name not in GENERATORS:
        raise ValueError(f"unknown generator class {class_name!r}; known: {sorted(GENERATORS)}")
    return GENERATORS[class_name](dtype=dtype, **config)
