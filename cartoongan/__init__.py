"""cartoongan: photos into anime-style images with CartoonGAN-family generators."""

from cartoongan.inference import Cartoonizer
from cartoongan.presets import load_generator

__all__ = ["Cartoonizer", "load_generator"]
__version__ = "0.1.0"
