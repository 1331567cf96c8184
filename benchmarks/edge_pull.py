"""Which way does each loss term pull the outputs at the photo's edges? A diagnostic for a run.

    python benchmarks/edge_pull.py --workdir runs/mine [--batches 12] [--threshold 5]

Restores the run's latest checkpoint (generator and discriminators) and, on `--batches` batches
of its training data, takes the derivative of each generator loss term along one direction of
the outputs: darkening every channel by the photo's edges, thinned to one pixel across
(non-maximum suppression along the gradient of its 5x5-binomial-blurred grey level, the first
step of Canny), above `--threshold` grey levels, softened by a 3x3 binomial. A style with dark
outlines is drawn by moving along it (docs/learning.md: such renderings meet every bar on the
toy cel styles), so a term with a negative derivative asks for lines and one with a positive
derivative erases them. `--zero-mean` brightens the lines' surroundings as much as it darkens
the lines (every local mean kept), which takes out what a term makes of a darker picture as a
whole (the colour terms pull on that). Printed per term: the mean derivative, its spread over the batches and
the share of batches in which it asks for lines.
"""

import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_BINOMIAL_3X3 = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0


def thin_edges(rgb, threshold=5.0):
    """uint8-range RGB HxWx3 -> HxW float32: the grey level's edge strength (grey levels per
    pixel, Sobel / 8 after a 5x5 binomial blur) kept where it peaks across the edge, minus
    `threshold`, clipped at 0 and softened by the 3x3 binomial kernel."""
    import cv2

    grey = np.asarray(rgb, np.float32).mean(-1)
    for _ in range(2):  # two 3x3 binomials: the 5x5 binomial
        grey = cv2.filter2D(grey, -1, _BINOMIAL_3X3, borderType=cv2.BORDER_REFLECT_101)
    gx = cv2.Sobel(grey, -1, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT_101) / 8
    gy = cv2.Sobel(grey, -1, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT_101) / 8
    magnitude = np.hypot(gx, gy)
    padded = np.pad(magnitude, 1, mode="reflect")
    height, width = magnitude.shape

    def neighbour(dy, dx):
        return padded[1 + dy:1 + dy + height, 1 + dx:1 + dx + width]

    angle = np.rad2deg(np.arctan2(gy, gx)) % 180
    keep = np.zeros(magnitude.shape, bool)
    for low, high, (dy, dx) in ((0, 22.5, (0, 1)), (157.5, 180.1, (0, 1)), (22.5, 67.5, (1, 1)),
                                (67.5, 112.5, (1, 0)), (112.5, 157.5, (1, -1))):
        direction = (angle >= low) & (angle < high)
        keep |= direction & (magnitude >= neighbour(dy, dx)) & (magnitude >= neighbour(-dy, -dx))
    lines = np.maximum(magnitude * keep - threshold, 0)
    return cv2.filter2D(lines, -1, _BINOMIAL_3X3, borderType=cv2.BORDER_REFLECT_101).astype(np.float32)


def loss_terms(trainer, batch, step):
    """({name: weighted generator loss term} on one batch, as the trainer's GAN step adds them,
    the terms whose weight is 0 left out; the generated batch they were computed from)."""
    import tensorflow as tf

    from cartoongan import losses

    config = trainer.config
    photo = trainer._to_generator_convention(batch["photo"])
    generated = trainer.generator(photo, training=True)
    generated_rgb = trainer._to_generator_convention(generated)
    terms = {
        "adversarial": (1.0, lambda: trainer.generator_loss_fn(trainer.discriminator(generated, training=True))),
        "content": (config.content_weight, lambda: losses.content_loss(trainer.vgg(photo), trainer.vgg(generated))),
        "checkerboard": (config.checkerboard_weight, lambda: losses.checkerboard_loss(generated, photo)),
        "colour": (config.colour_weight,
                   lambda: losses.photo_colour_loss(generated_rgb, batch["photo"], pool=config.colour_pool)),
        "colour_distribution": (config.colour_distribution_weight, lambda: losses.colour_distribution_loss(
            generated_rgb, batch["anime"], seed=tf.constant([step, 1]))),
        "texture": (config.texture_weight, lambda: trainer._texture_losses(generated_rgb, batch)[0]),
    }
    return {name: weight * term() for name, (weight, term) in terms.items() if weight}, generated


_BINOMIAL_5X5 = np.outer([1.0, 4.0, 6.0, 4.0, 1.0], [1.0, 4.0, 6.0, 4.0, 1.0]) / 256.0


def line_direction(edges):
    """`edges` (HxW) minus its 5x5 binomial blur: the same dark lines with their surroundings
    brightened to keep every local mean, so a term that pulls on it wants lines, not a darker
    or brighter picture."""
    import cv2

    return edges - cv2.filter2D(edges, -1, _BINOMIAL_5X5, borderType=cv2.BORDER_REFLECT_101)


def edge_pull(trainer, batches, threshold=5.0, zero_mean=False):
    """{term: [derivative of the term along darkening the photo's thin edges (`zero_mean`:
    the line_direction of them), one a batch]}."""
    import tensorflow as tf

    from cartoongan.evaluation import to_uint8

    pulls = {}
    for step, batch in enumerate(batches):
        with tf.GradientTape(persistent=True) as tape:
            terms, generated = loss_terms(trainer, batch, step)
        edges = [thin_edges(p, threshold) for p in to_uint8(batch["photo"].numpy())]
        edges = np.stack([line_direction(e) if zero_mean else e for e in edges])[..., None] / 127.5
        # Darkening every channel by the edges, in the generator's [-1, 1] output units.
        direction = -tf.constant(np.repeat(edges, 3, axis=-1), tf.float32)
        for name, term in terms.items():
            gradient = tape.gradient(term, generated)
            pulls.setdefault(name, []).append(float(tf.reduce_sum(tf.cast(gradient, tf.float32) * direction)))
        del tape
    return pulls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="a training workdir with config.json and checkpoints/")
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--threshold", type=float, default=5.0, help="grey levels of edge strength below which "
                        "no line is drawn")
    parser.add_argument("--zero-mean", action="store_true", help="darken the lines and brighten their surroundings "
                        "to keep every local mean: what each term makes of lines alone, not of a darker picture")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from cartoongan.training.config import TrainConfig
    from cartoongan.training.trainer import Trainer

    with open(os.path.join(args.workdir, "config.json")) as f:
        stored = json.load(f)
    config = TrainConfig(**{key: value for key, value in stored.items() if key in TrainConfig.__dataclass_fields__})
    trainer = Trainer(config)
    step = trainer.restore()
    batches = trainer._tfrecord_dataset(tf.distribute.InputContext(), config.seed + 1).take(args.batches)
    pulls = edge_pull(trainer, batches, args.threshold, args.zero_mean)
    what = "drawing the photo's thin edges as lines, local means kept" if args.zero_mean else "darkening the photo's thin edges"
    print(f"{args.workdir} at step {step}: derivative of each term along {what} "
          f"({args.batches} batches of {config.batch_size} at {config.image_size} px; negative asks for lines)")
    print("| term | mean | spread | batches asking for lines |\n|---|---|---|---|")
    total = 0
    for name, values in pulls.items():
        values = np.array(values)
        total = total + values
        print(f"| {name} | {values.mean():+.4f} | {values.std():.4f} | {np.mean(values < 0) * 100:.0f} % |")
    print(f"| all | {total.mean():+.4f} | {total.std():.4f} | {np.mean(total < 0) * 100:.0f} % |")
    return pulls


if __name__ == "__main__":
    main()
