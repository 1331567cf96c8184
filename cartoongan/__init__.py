"""cartoongan: photos into anime-style images with CartoonGAN-family generators."""

from cartoongan.tf_runtime import install_quiet_import, skip_optional_jax

__all__ = ["Cartoonizer", "load_generator"]
__version__ = "0.1.0"

# TensorFlow's start-up lines (absl, oneDNN, "failed call to cuInit") stay off the terminal
# when the library loads it, as in the command-line tools; CARTOONGAN_VERBOSE=1 shows them.
install_quiet_import()
# TensorFlow would load JAX (145 MB resident) for parts of TFLite and Keras this project never uses.
skip_optional_jax()


def __getattr__(name):
    # Imported on first use: TensorFlow takes seconds to load, and the command-line tools
    # must be able to print --help and reject wrong flags before that.
    if name == "Cartoonizer":
        from cartoongan.inference import Cartoonizer

        return Cartoonizer
    if name == "load_generator":
        from cartoongan.presets import load_generator

        return load_generator
    raise AttributeError(f"module 'cartoongan' has no attribute {name!r}")
