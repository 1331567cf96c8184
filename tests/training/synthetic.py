"""Tiny synthetic training data and configs for trainer tests (no files, no VGG download)."""

import tensorflow as tf

from cartoongan.training.config import TrainConfig

SIZE = 32


def synthetic_dataset(input_context, seed, batch_size=2):
    """Infinite batches of random RGB images in [-1, 1], different for every step and seed."""
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)

    def make(index):
        return {
            key: tf.random.stateless_uniform((batch_size, SIZE, SIZE, 3), seed=[seed, index * 3 + i], minval=-1, maxval=1)
            for i, key in enumerate(("photo", "anime", "anime_smooth"))
        }

    return tf.data.Dataset.range(1 << 30).map(make)


def tiny_config(workdir, **overrides):
    options = dict(
        data=str(workdir),
        workdir=str(workdir),
        generator="cartoongan",
        generator_config={"filters": 4, "num_residual_blocks": 1},
        discriminator_filters=4,
        init_steps=2,
        steps=4,
        batch_size=2,
        image_size=SIZE,
        vgg_weights="random",
        checkpoint_every=2,
        sample_every=2,
        xla="off",
    )
    options.update(overrides)
    return TrainConfig(**options)
