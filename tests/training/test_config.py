"""TrainConfig checks its values without TensorFlow, naming the field at fault."""

import pytest

from cartoongan.errors import ParameterError
from cartoongan.training.config import (
    ADVERSARIAL_LOSS_KINDS,
    CONTENT_FEATURE_KINDS,
    DISCRIMINATOR_NORMS,
    GENERATOR_CLASSES,
    TrainConfig,
)


def test_the_tensorflow_free_choices_are_the_ones_the_library_implements():
    from cartoongan.families import generator_class
    from cartoongan.losses import ADVERSARIAL_LOSSES, CONTENT_FEATURES
    from cartoongan.models.discriminator import NORMALIZATIONS
    from cartoongan.training.trainer import GENERATOR_CLASSES as TRAINER_GENERATOR_CLASSES

    assert set(ADVERSARIAL_LOSS_KINDS) == set(ADVERSARIAL_LOSSES)
    assert CONTENT_FEATURE_KINDS == CONTENT_FEATURES
    assert DISCRIMINATOR_NORMS == NORMALIZATIONS
    assert GENERATOR_CLASSES == TRAINER_GENERATOR_CLASSES
    for class_name in GENERATOR_CLASSES.values():
        assert generator_class(class_name).__name__ == class_name


@pytest.mark.parametrize("changes, field, message", [
    (dict(generator_lr=-1.0), "generator_lr", "generator_lr must be a finite number >= 0, not -1.0"),
    (dict(content_weight=float("nan")), "content_weight", "content_weight must be a finite number"),
    (dict(steps=-1), "steps", "steps must be >= 0"),
    (dict(init_steps=-1), "init_steps", "init_steps must be >= 0"),
    (dict(image_size=30), "image_size", "image_size must be a multiple of 4, >= 16"),
    (dict(generator="animegan_v3", image_size=36), "image_size",
     "image_size 36: the animegan_v3 generator takes multiples of 8, at least 16"),
    (dict(generator="animegan_v3", generator_config={"tiny_layout": 1}, image_size=40), "image_size",
     'image_size 40: the animegan_v3 generator {"tiny_layout": 1} takes multiples of 16, at least 32'),
    (dict(discriminator_norm="batch"), "discriminator_norm", "discriminator_norm must be one of instance, none"),
    (dict(average_last=1.5), "average_last", "average_last must be from 0 to 1, not 1.5"),
    (dict(average_last=-0.1), "average_last", "average_last must be a finite number >= 0, not -0.1"),
    (dict(photo_path_median=4), "photo_path_median", "photo_path_median must be 0, 3, 5, 7 or 9, not 4"),
    (dict(content_median=11), "content_median", "content_median must be 0, 3, 5, 7 or 9, not 11"),
    (dict(colour_level="mean"), "colour_level", "colour_level must be free or photo, not 'mean'"),
    (dict(precision="fp8"), "precision", "precision must be one of auto, float32, bfloat16, float16, not 'fp8'"),
    (dict(generator_config={"depth": 3}), "generator_config", "generator_config: unknown parameter 'depth'"),
    (dict(generator="light", generator_config={"num_residual_blocks": 10**6}), "generator_config",
     "generator_config: num_residual_blocks=1000000 is outside 0..32"),
])
def test_a_bad_value_names_its_field_not_a_flag(changes, field, message):
    with pytest.raises(ParameterError) as error:
        TrainConfig(data="d", workdir="w", **changes)
    assert error.value.field == field
    assert str(error.value).startswith(message) and "--" not in str(error.value)
    flag = "--" + field.replace("_", "-")
    assert error.value.explain({field: flag}) == flag + str(error.value)[len(field):]


def test_checking_a_config_does_not_import_tensorflow():
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT

    code = ("import sys; from cartoongan.training.config import TrainConfig; "
            "TrainConfig(data='d', workdir='w', generator='light', generator_config={'filters': 8}); "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_the_papers_recipe_is_a_set_of_flags_that_turns_every_addition_off():
    from cartoongan.training.config import PAPER_RECIPE, TrainConfig

    config = TrainConfig(data="d", workdir="w", **PAPER_RECIPE)
    assert config.colour_weight == config.colour_distribution_weight == config.checkerboard_weight == 0
    assert config.palette_weight == 0 and config.discriminator_norm == "instance" and config.warmup_steps == 0
    assert config.content_features == "vgg" and config.vgg_weights == "imagenet"
    assert config.photo_path == "off" and config.content_median == 0  # the content loss to the photo itself
    assert config.average_last == 0  # the preset is the last step's weights
    defaults = TrainConfig(data="d", workdir="w")
    assert all(getattr(defaults, key) != value for key, value in PAPER_RECIPE.items()
               if key not in ("palette_weight", "vgg_weights")), "each flag must change a default"


def test_photo_path_is_on_or_off_and_off_for_families_without_the_path():
    """Without TensorFlow: a value that is neither is refused by field (an edited config.json
    held "maybe"), and whitebox and AnimeGANv2 record "off" (the path is not built for them)."""
    with pytest.raises(ParameterError) as error:
        TrainConfig(data="d", workdir="w", photo_path="maybe")
    assert error.value.field == "photo_path" and str(error.value) == "photo_path must be on or off, not 'maybe'"
    assert [TrainConfig(data="d", workdir="w", generator=g).photo_path for g in ("cartoongan", "light")] == ["on"] * 2
    assert [TrainConfig(data="d", workdir="w", generator=g).photo_path for g in ("whitebox", "animegan_v2")] == ["off"] * 2
