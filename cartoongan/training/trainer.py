"""The CartoonGAN training loop: initialization phase, GAN phase, checkpoints, resume.

One `tf.train.Checkpoint` holds the step, both networks and both optimizers; a
`CheckpointManager` restores the latest one when the workdir has it, and otherwise the
generator starts from `init_from` (fine-tuning) or from scratch: resume and fine-tuning are
the same mechanism. Step functions are `tf.function`s whose gradient computation is XLA
compiled when asked (`jit_compile`, a switch, not a fork of the code); optimizer updates
stay outside XLA so that `tf.distribute` can aggregate gradients across replicas.
"""

import collections
import contextlib
import json
import math
import os
import time
import typing

import keras
import numpy as np
import tensorflow as tf

from cartoongan import losses
from cartoongan import precision as precision_lib
from cartoongan.atomic import atomic_file
from cartoongan.presets import generator_preprocessing, load_preset, preset_name_from_path, save_preset
from cartoongan.training.config import GENERATOR_CLASSES
from cartoongan.training.resume import restore_checkpoint

CHECKPOINT_DIR = "checkpoints"
PRESET_DIR = "preset"
METRICS_FILE = "metrics.jsonl"
GUARD_IMAGES = 16  # reference anime images (and photos without --held-out) of the guard scores
GUARD_BATCH_PIXELS = 1 << 22  # the guard runs photos of one size together, this many pixels a batch
CONFIG_FILE = "config.json"
TENSORBOARD_DIR = "tensorboard"


class GuardReference(typing.NamedTuple):
    """What the guard scores are measured against, fixed for a run (Trainer._guard_reference)."""

    anime_colours: object  # evaluation.ColourReference of the anime images
    photos: list
    targets: list | None
    colour_distance_photo: float


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class DataError(RuntimeError):
    """The training data cannot be read (a corrupt shard, no records); names the file."""


class CheckpointError(RuntimeError):
    """A checkpoint could not be written (e.g. a full disk); its partial files are removed."""


class WarmupThenDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`learning_rate` * min(1, (step + 1) / `warmup_steps`), the step being the optimizer's own,
    then, with `decay_steps`, falling linearly to 0 at that step.

    Adam's first updates move every weight by about the learning rate whatever the gradient
    (m/sqrt(v) is the gradient's sign until v has averaged): a pretrained generator took one
    step at 2e-4 to 14 dB from itself. Rising from 0 lets v settle before steps are full size
    (a toy fine-tune at 1e-4 then kept its start intact; the default rate stays
    FINE_TUNE_GENERATOR_LR, since 1e-4 learned no more).

    The decay (--lr-decay linear): a GAN fine-tune's scores wander by tenths of a dB from step
    to step at full rate, and the run ends where it settles (docs/learning.md). `decay_steps`
    counts as at least 1 (the discriminator's optimizer has none to run when init_steps >=
    steps), and the decay spans at least one step when the warm-up reaches past it.
    """

    def __init__(self, learning_rate, warmup_steps, decay_steps=None):
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.decay_steps = None if decay_steps is None else max(1, int(decay_steps))

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        rate = self.learning_rate * keras.ops.minimum(1.0, (step + 1.0) / float(max(1, self.warmup_steps)))
        if self.decay_steps is not None:
            span = float(max(1, self.decay_steps - self.warmup_steps))
            rate = rate * keras.ops.clip((float(self.decay_steps) - step) / span, 0.0, 1.0)
        return rate

    def get_config(self):
        return {"learning_rate": self.learning_rate, "warmup_steps": self.warmup_steps, "decay_steps": self.decay_steps}


def make_strategy(kind):
    """auto: multi-worker when TF_CONFIG names several workers, mirrored with several GPUs,
    else the default strategy."""
    if kind == "auto":
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
        if sum(len(v) for v in cluster.values()) > 1:
            kind = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            kind = "mirrored"
        else:
            kind = "default"
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict())


def use_xla(setting):
    return setting == "on" or (setting == "auto" and bool(tf.config.list_physical_devices("GPU")))


class Trainer:
    def __init__(self, config, dataset_fn=None):
        """`dataset_fn(input_context, seed)` -> tf.data.Dataset of dicts (photo, anime,
        anime_smooth: RGB in [-1, 1]); default: the TFRecords in `config.data`."""
        from cartoongan.families import build_generator
        from cartoongan.models import INK_PATHS
        from cartoongan.models.discriminator import CartoonGanDiscriminator
        from cartoongan.models.photo_path import MedianFilter, supports_photo_path, with_output_parts, with_photo_path

        self.config = config
        self.strategy = make_strategy(config.distribute)
        self.is_chief = _is_chief(self.strategy)
        self.workdir = config.workdir if self.is_chief else os.path.join(config.workdir, f"worker-{self.strategy.cluster_resolver.task_id}")
        self.dataset_fn = dataset_fn or self._tfrecord_dataset
        config.precision = precision_lib.resolve_training(config.precision)  # what config.json records
        policy = precision_lib.dtype_policy(config.precision)
        with self.strategy.scope():
            if config.init_from:
                self.generator, self.preprocessing, _ = load_preset(config.init_from, dtype=policy)
            else:
                self.generator = build_generator(GENERATOR_CLASSES[config.generator], config.generator_config, dtype=policy)
                self.preprocessing = generator_preprocessing(self.generator, "RGB")
            if config.photo_path == "on" and supports_photo_path(self.generator):
                self.generator = with_photo_path(self.generator, dtype=policy, gain=config.photo_path_gain,
                                                 ink_path=INK_PATHS.index(config.ink_path), median=config.photo_path_median)
            # The same layers, also giving the parts of the output: the network's share
            # (--body-weight) and the photo path's term (--line-photo-path).
            self._generator_parts = with_output_parts(self.generator)
            self.discriminator = CartoonGanDiscriminator(
                filters=config.discriminator_filters, dtype=policy, normalization=config.discriminator_norm)
            # White-box's texture discriminator: the same network, shown grayscale images.
            self.texture_discriminator = CartoonGanDiscriminator(
                filters=config.discriminator_filters, dtype=policy, normalization=config.discriminator_norm,
                name="texture_discriminator") if config.texture_weight else None
            self.vgg = losses.content_features(config.content_features, config.vgg_weights,
                                               self.preprocessing.channel_order)
            # What the content loss holds each output to: its photo, or the photo's median.
            self._content_reference = (MedianFilter(config.content_median, dtype="float32") if config.content_median
                                       else tf.identity)
            # Each optimizer counts its own steps: the discriminator's start after the initialization.
            self.generator_optimizer = self._optimizer(config.generator_lr, config.steps)
            self.discriminator_optimizer = self._optimizer(config.discriminator_lr, config.steps - config.init_steps)
            # Optimizer slots exist before a restore, so a checkpoint is matched in full.
            self.generator_optimizer.build(self.generator.trainable_variables)
            self.discriminator_optimizer.build(self._discriminator_variables())
            # The running mean of the generator's weights over the last steps (--average-last).
            self.average_weights = [tf.Variable(tf.convert_to_tensor(w), trainable=False, name="average")
                                    for w in self.generator.weights] if config.average_last else []
            self.averaged_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="averaged_steps")
        # Fixed like the learning rate's horizon: a run scored in chunks (benchmarks) averages
        # over the same steps as one that runs to the end.
        self._average_after = config.steps - round(config.average_last * config.steps)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        # Keras 3 models are not trackable children of a tf.train.Checkpoint: their
        # variables are listed explicitly (otherwise only the optimizers' references to the
        # trainable ones would be saved, and non-trainable state would be lost).
        self.checkpoint = tf.train.Checkpoint(
            step=self.step,
            generator=tf.train.Checkpoint(variables=list(self.generator.weights)),
            discriminator=tf.train.Checkpoint(variables=list(self.discriminator.weights)),
            **({"texture_discriminator": tf.train.Checkpoint(variables=list(self.texture_discriminator.weights))}
               if self.texture_discriminator else {}),
            **({"generator_average": tf.train.Checkpoint(variables=self.average_weights, steps=self.averaged_steps)}
               if self.average_weights else {}),
            generator_optimizer=self.generator_optimizer,
            discriminator_optimizer=self.discriminator_optimizer,
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(self.workdir, CHECKPOINT_DIR), max_to_keep=config.keep_checkpoints
        )
        self.generator_loss_fn, self.discriminator_loss_fn = losses.ADVERSARIAL_LOSSES[config.adversarial_loss]
        jit = use_xla(config.xla)
        self._init_gradients = tf.function(self._init_gradients_fn, jit_compile=jit)
        self._gan_gradients = tf.function(self._gan_gradients_fn, jit_compile=jit)
        self._init_step = tf.function(lambda batch: self._distributed(self._init_replica_step, batch))
        self._accumulate_average = tf.function(self._accumulate_average_fn)
        self._gan_step = tf.function(lambda batch: self._distributed(self._gan_replica_step, batch))
        self._guard_cache = None  # ((held_out, seed), GuardReference) of the last fit

    def _discriminator_variables(self):
        """The trainable variables of the discriminator(s), which one optimizer updates."""
        extra = self.texture_discriminator.trainable_variables if self.texture_discriminator else []
        return self.discriminator.trainable_variables + extra

    def _optimizer(self, learning_rate, last_step):
        """Adam; its rate rises over --warmup-steps and, with --lr-decay linear, falls to 0 at `last_step`."""
        decay_steps = last_step if self.config.lr_decay == "linear" else None
        if self.config.warmup_steps or decay_steps is not None:
            learning_rate = WarmupThenDecay(learning_rate, self.config.warmup_steps, decay_steps)
        optimizer = keras.optimizers.Adam(learning_rate, beta_1=self.config.beta_1, beta_2=self.config.beta_2)
        if self.config.precision == "float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    # === Data ===

    def _tfrecord_dataset(self, input_context, seed):
        from cartoongan.data.pipeline import training_dataset

        return training_dataset(
            self.config.data, self.config.batch_size, self.config.image_size, seed=seed, input_context=input_context
        )

    def _to_generator_convention(self, rgb):
        return rgb[..., ::-1] if self.preprocessing.channel_order == "BGR" else rgb

    # === Steps ===

    def _scaled(self, optimizer, loss):
        # Per-replica losses are local means: dividing by the replica count makes the
        # all-reduced (summed) gradient the gradient of the global mean.
        loss = loss / self.strategy.num_replicas_in_sync
        return optimizer.scale_loss(loss) if self.config.precision == "float16" else loss

    def _init_gradients_fn(self, batch):
        photo = self._to_generator_convention(batch["photo"])
        with tf.GradientTape() as tape:
            generated = self.generator(photo, training=True)
            content = losses.content_loss(self.vgg(self._content_reference(photo)), self.vgg(generated))
            generator_loss = self.config.content_weight * content
            scaled = self._scaled(self.generator_optimizer, generator_loss)
        gradients = tape.gradient(scaled, self.generator.trainable_variables)
        return {"generator_loss": generator_loss, "content_loss": content}, gradients

    def _init_replica_step(self, batch):
        metrics, gradients = self._init_gradients(batch)
        self.generator_optimizer.apply_gradients(zip(gradients, self.generator.trainable_variables))
        return metrics

    def _gan_gradients_fn(self, batch):
        from cartoongan.models.photo_path import near_edges

        photo = self._to_generator_convention(batch["photo"])
        anime = self._to_generator_convention(batch["anime"])
        smooth = self._to_generator_convention(batch["anime_smooth"])
        with tf.GradientTape() as generator_tape, tf.GradientTape() as discriminator_tape:
            lined = None  # the output as the line loss sees it
            if self._generator_parts is not None:
                generated, before_tanh, share, photo_term = self._generator_parts(photo, training=True)
                body = losses.network_share_loss(share) if self.config.body_weight else tf.constant(0.0)
                body_colour = (losses.network_share_colour_loss(share, near_edges(photo))
                               if self.config.body_colour_weight else tf.constant(0.0))
                if self.config.line_photo_path == "off":
                    # The same output, without a gradient to the photo path: the line loss
                    # counts the photo's texture as ink and would dim the whole photo.
                    lined = tf.tanh(before_tanh - photo_term + tf.stop_gradient(photo_term))
            else:
                generated = self.generator(photo, training=True)
                body = body_colour = tf.constant(0.0)
            real_logits = self.discriminator(anime, training=True)
            fake_logits = self.discriminator(generated, training=True)
            smooth_logits = self.discriminator(smooth, training=True)
            discriminator_loss = self.discriminator_loss_fn(real_logits, fake_logits, smooth_logits,
                                                            self.config.edge_weight)
            adversarial = self.generator_loss_fn(fake_logits)
            content = losses.content_loss(self.vgg(self._content_reference(photo)), self.vgg(generated))
            checkerboard = losses.checkerboard_loss(generated, photo)
            palette = (losses.palette_loss(generated, anime, seed=self._palette_seed())
                       if self.config.palette_weight else tf.constant(0.0))
            generated_rgb = self._to_generator_convention(generated)
            colour = (losses.photo_colour_loss(generated_rgb, batch["photo"], pool=self.config.colour_pool,
                                             chroma=self.config.colour_chroma,
                                             level=self.config.colour_level == "photo")
                      if self.config.colour_weight else tf.constant(0.0))
            texture, texture_discriminator_loss = self._texture_losses(generated_rgb, batch)
            discriminator_loss += self.config.texture_weight * texture_discriminator_loss
            style = (losses.style_loss(self.vgg(_grey(generated)), self.vgg(_grey(anime)))
                     if self.config.style_weight else tf.constant(0.0))
            structure = (losses.content_loss(self.vgg(losses.superpixel_flatten(generated)), self.vgg(generated))
                         if self.config.structure_weight else tf.constant(0.0))
            line = (losses.line_loss(generated_rgb if lined is None else self._to_generator_convention(lined), batch["anime"])
                    if self.config.line_weight else tf.constant(0.0))
            distribution = (losses.colour_distribution_loss(generated_rgb, batch["anime"], seed=self._palette_seed() + 1)
                            if self.config.colour_distribution_weight else tf.constant(0.0))
            generator_loss = (adversarial + self.config.content_weight * content
                              + self.config.palette_weight * palette
                              + self.config.colour_weight * colour
                              + self.config.colour_distribution_weight * distribution
                              + self.config.checkerboard_weight * checkerboard
                              + self.config.texture_weight * texture
                              + self.config.style_weight * style
                              + self.config.structure_weight * structure
                              + self.config.line_weight * line
                              + self.config.body_weight * body
                              + self.config.body_colour_weight * body_colour)
            generator_scaled = self._scaled(self.generator_optimizer, generator_loss)
            discriminator_scaled = self._scaled(self.discriminator_optimizer, discriminator_loss)
        generator_gradients = generator_tape.gradient(generator_scaled, self.generator.trainable_variables)
        discriminator_gradients = discriminator_tape.gradient(discriminator_scaled, self._discriminator_variables())
        metrics = {
            "generator_loss": generator_loss,
            "adversarial_loss": adversarial,
            "content_loss": content,
            "checkerboard_loss": checkerboard,
            "palette_loss": palette,
            "colour_loss": colour,
            "colour_distribution_loss": distribution,
            "texture_loss": texture,
            "style_loss": style,
            "structure_loss": structure,
            "line_loss": line,
            "body_loss": body,
            "body_colour_loss": body_colour,
            "discriminator_loss": discriminator_loss,
            # What D makes of each input (LSGAN targets: anime 1, generated 0, smoothed 0).
            "d_real": tf.reduce_mean(real_logits),
            "d_fake": tf.reduce_mean(fake_logits),
            "d_smooth": tf.reduce_mean(smooth_logits),
        }
        return metrics, generator_gradients, discriminator_gradients

    def _texture_losses(self, generated_rgb, batch):
        """(generator's, discriminator's) adversarial losses of the texture discriminator: the
        anime images real, the outputs and the edge-smoothed anime images fake, all as one random
        grayscale mix a step; (0, 0) without it."""
        if not self.texture_discriminator:
            return tf.constant(0.0), tf.constant(0.0)
        seed = self._palette_seed() + 2
        real, fake, smooth = (self.texture_discriminator(losses.random_grayscale(images, seed), training=True)
                              for images in (batch["anime"], generated_rgb, batch["anime_smooth"]))
        return (self.generator_loss_fn(fake),
                self.discriminator_loss_fn(real, fake, smooth, self.config.edge_weight))

    def _palette_seed(self):
        """The palette term's sampling seed: the run's seed, this replica and the step, so
        that a resumed run draws the pixels an uninterrupted one would."""
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        run = tf.cast(self.config.seed, tf.int64) * 4096 + tf.cast(replica, tf.int64)
        return tf.stack([run, tf.cast(self.generator_optimizer.iterations, tf.int64)])

    def _gan_replica_step(self, batch):
        metrics, generator_gradients, discriminator_gradients = self._gan_gradients(batch)
        self.generator_optimizer.apply_gradients(zip(generator_gradients, self.generator.trainable_variables))
        self.discriminator_optimizer.apply_gradients(zip(discriminator_gradients, self._discriminator_variables()))
        return metrics

    def _distributed(self, replica_step, batch):
        per_replica = self.strategy.run(replica_step, args=(batch,))
        return {
            name: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
            for name, value in per_replica.items()
        }

    def _accumulate_average_fn(self):
        """Folds the generator's weights as they are into the running mean (cross-replica)."""
        self.averaged_steps.assign_add(1)
        count = tf.cast(self.averaged_steps, tf.float32)
        for average, weight in zip(self.average_weights, self.generator.weights):
            average.assign_add((tf.cast(weight, tf.float32) - average) / count)

    @contextlib.contextmanager
    def preset_weights(self):
        """Inside, the generator holds the weights its preset gets: the mean over the steps
        averaged so far (--average-last), or its own when none are; its own ones after."""
        if not self.average_weights or not int(self.averaged_steps.numpy()):
            yield self.generator
            return
        own = [w.numpy() for w in self.generator.weights]
        for weight, average in zip(self.generator.weights, self.average_weights):
            weight.assign(average.numpy())
        try:
            yield self.generator
        finally:
            for weight, value in zip(self.generator.weights, own):
                weight.assign(value)

    # === The loop ===

    def restore(self):
        """Restores the latest checkpoint if there is one; returns the step to continue after."""
        _remove_partial_checkpoints(os.path.join(self.workdir, CHECKPOINT_DIR))
        latest = self.manager.latest_checkpoint
        if latest:  # ResumeError when config.json no longer describes the checkpoint's run
            restore_checkpoint(self.checkpoint, latest, os.path.join(self.config.workdir, CONFIG_FILE))
        step = int(self.step.numpy())
        if self.is_chief:
            _truncate_metrics(os.path.join(self.workdir, METRICS_FILE), step)
        return step

    def fit(self, progress=True):
        """Runs until `config.steps`; returns the number of steps run now."""
        from tqdm.auto import tqdm

        config = self.config
        start = self.restore()
        if start >= config.steps:
            return 0
        # The data is opened before anything is written: a bad --data leaves no workdir.
        # A resumed run draws new crops instead of replaying the first ones.
        dataset = self.strategy.distribute_datasets_from_function(
            lambda context: self.dataset_fn(context, config.seed + start)
        )
        batches = iter(dataset)
        held_out = load_held_out(config.held_out) if config.held_out and self.is_chief else None
        if self.is_chief:
            os.makedirs(self.workdir, exist_ok=True)
            with atomic_file(os.path.join(self.workdir, CONFIG_FILE)) as partial, open(partial, "w") as f:
                f.write(config.to_json())
        samples = None
        writer = tf.summary.create_file_writer(os.path.join(self.workdir, TENSORBOARD_DIR)) if self.is_chief else None
        metrics_file = open(os.path.join(self.workdir, METRICS_FILE), "a") if self.is_chief else None
        bar = tqdm(total=config.steps, initial=start, unit="step", disable=not (progress and self.is_chief))
        try:
            for step in range(start + 1, config.steps + 1):
                batch = self._next_batch(batches)
                if samples is None:
                    samples = self._local_photos(batch)
                    if self.is_chief:
                        if self._guard_cache is None or self._guard_cache[0] != (config.held_out, config.seed):
                            # The same every fit of this trainer (a benchmark fits in chunks).
                            self._guard_cache = ((config.held_out, config.seed), self._guard_reference(held_out))
                        guard_reference = self._guard_cache[1]
                        with writer.as_default(step=start):  # where this run starts from
                            tf.summary.image("generated", self._sample_images(samples), max_outputs=4)
                            if start == 0:  # a resumed run's start was scored by the run before
                                guard = self._guard_scores(guard_reference)
                                _write_scalars(guard)
                                metrics_file.write(json.dumps({"step": 0, **guard}) + "\n")
                step_fn = self._init_step if step <= config.init_steps else self._gan_step
                if step == start + 1 or step == config.init_steps + 1:
                    # The first call of each step function traces (and with XLA compiles) it.
                    bar.set_description_str(f"tracing the {'initialization' if step <= config.init_steps else 'GAN'} step")
                    bar.refresh()
                began = time.perf_counter()
                metrics = {name: float(value) for name, value in step_fn(batch).items()}
                seconds = time.perf_counter() - began
                bad = [name for name, value in metrics.items() if not math.isfinite(value)]
                if bad:
                    raise TrainingDiverged(
                        f"{', '.join(bad)} became {metrics[bad[0]]} at step {step}; stopped. The last good "
                        f"checkpoint ({self.manager.latest_checkpoint or 'none yet'}) is kept: lower the "
                        "learning rates or use float32 and resume."
                    )
                if self.average_weights and step > self._average_after:
                    self._accumulate_average()
                self.step.assign(step)
                if self.is_chief:
                    sampled = step % config.sample_every == 0 or step == config.steps
                    if sampled:
                        metrics.update(self._guard_scores(guard_reference))
                    metrics_file.write(json.dumps({"step": step, **metrics}) + "\n")
                    metrics_file.flush()
                    with writer.as_default(step=step):
                        _write_scalars(metrics)
                        tf.summary.scalar("images_per_second", config.batch_size / seconds)
                        if sampled:
                            tf.summary.image("generated", self._sample_images(samples), max_outputs=4)
                if step % config.checkpoint_every == 0 or step == config.steps:
                    self.save()
                bar.set_description_str("init" if step <= config.init_steps else "GAN")
                bar.set_postfix({k.replace("_loss", ""): f"{v:.3g}" for k, v in metrics.items()})
                bar.update()
        finally:
            bar.close()
            if metrics_file:
                metrics_file.close()
            if writer:
                writer.close()
        return config.steps - start

    def _next_batch(self, batches):
        try:
            return next(batches)
        except StopIteration:
            raise DataError(f"{self.config.data}: the training data holds no records") from None
        except tf.errors.OpError as error:
            if self.dataset_fn != self._tfrecord_dataset:
                raise
            from cartoongan.data.pipeline import find_bad_shard

            bad = find_bad_shard(self.config.data)
            where = f"{bad[0]} is corrupt ({bad[1]})" if bad else f"{self.config.data}: cannot read the training data"
            raise DataError(f"{where}: rebuild it with tools/build_tfrecords.py. ({error.message.splitlines()[0]})") from None

    def save(self):
        """Checkpoint (every worker takes part) and, on the chief, the preset."""
        step = int(self.step.numpy())
        try:
            self.manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as error:
            # A full disk leaves `ckpt-N_temp/` behind: remove it, keep the earlier checkpoints.
            _remove_partial_checkpoints(os.path.join(self.workdir, CHECKPOINT_DIR))
            message = getattr(error, "message", None) or str(error)
            raise CheckpointError(
                f"cannot write the checkpoint of step {step} in {os.path.join(self.workdir, CHECKPOINT_DIR)} "
                f"({message.splitlines()[0] if message else type(error).__name__}); the last complete one "
                f"({self.manager.latest_checkpoint or 'none'}) is kept: free space and re-run to resume"
            ) from error
        if self.is_chief:
            with self.preset_weights() as generator:
                save_preset(
                    generator,
                    os.path.join(self.workdir, PRESET_DIR),
                    self.preprocessing,
                    name=preset_name_from_path(self.workdir),  # `--workdir ..` is named, not `..`
                    source=f"trained by cartoongan for {step} steps",
                    trained_steps=step,
                    init_from=self.config.init_from,
                )

    def _local_photos(self, batch):
        photos = self.strategy.experimental_local_results(batch["photo"])[0]
        return self._to_generator_convention(photos[:4])

    def _guard_reference(self, held_out):
        """-> GuardReference: the first anime images of the data at the run's own seed, the
        same after every resume (one batch of 4 alone moved the photos' distance between 13 and
        33), the photos scored (the held-out ones if given, else the data's first) with their
        targets or None, and the photos' own colour distance to those anime images."""
        from cartoongan.evaluation import ColourReference

        batches = list(self.dataset_fn(None, self.config.seed).take(-(-GUARD_IMAGES // self.config.batch_size)))
        anime = [image for b in batches for image in _to_uint8(b["anime"])][:GUARD_IMAGES]
        photos, targets = held_out or ([image for b in batches for image in _to_uint8(b["photo"])][:GUARD_IMAGES], None)
        anime_colours = ColourReference(anime)
        return GuardReference(anime_colours, photos, targets, anime_colours.distance(photos))

    def _guard_scores(self, reference):
        """What shows a collapse: the colour distance of the outputs to the reference anime
        images (beside the photos' own), on the reference photos; with targets, the outputs'
        PSNR gain over the photo itself. The outputs are those of the weights the preset gets
        (preset_weights)."""
        from cartoongan.evaluation import gain_over_photo

        with self.preset_weights() as generator:
            outputs = self._guard_outputs(generator, reference.photos)
        scores = {"colour_distance": reference.anime_colours.distance(outputs),
                  "colour_distance_photo": reference.colour_distance_photo}
        if reference.targets:
            scores["gain_over_photo"] = gain_over_photo(outputs, reference.photos, reference.targets)
        return scores

    def _guard_outputs(self, generator, photos):
        """uint8 `photos` through `generator` directly, padded and cropped as the Cartoonizer
        does, those of one size together in batches of at most GUARD_BATCH_PIXELS: Keras'
        predict would run through the distribution strategy, whose other workers do not take
        part here."""
        from cartoongan.evaluation import edge_pad_to_multiple, to_unit_range

        outputs = [None] * len(photos)
        by_size = collections.defaultdict(list)
        for index, photo in enumerate(photos):
            by_size[photo.shape].append(index)
        for (height, width, _), indices in by_size.items():
            per_batch = max(1, GUARD_BATCH_PIXELS // (height * width))
            for start in range(0, len(indices), per_batch):
                chunk = indices[start:start + per_batch]
                x = edge_pad_to_multiple(to_unit_range(np.stack([photos[i] for i in chunk])),
                                         self.preprocessing.size_multiple, self.preprocessing.min_size)
                y = generator(self._to_generator_convention(tf.constant(x)), training=False)
                y = _to_uint8(self._to_generator_convention(tf.cast(y, tf.float32))[:, :height, :width])
                for i, output in zip(chunk, y):
                    outputs[i] = output
        return outputs

    def _sample_images(self, photos):
        generated = tf.cast(self.generator(photos, training=False), tf.float32)
        pair = tf.concat([photos, generated], axis=2)
        return (self._to_generator_convention(pair) + 1.0) / 2.0


def _grey(images):
    """The mean of the channels (blind to their order) repeated over 3 channels: grayscale."""
    grey = tf.reduce_mean(tf.cast(images, tf.float32), axis=-1, keepdims=True)
    return tf.repeat(grey, 3, axis=-1)


def _write_scalars(values):
    for name, value in values.items():
        tf.summary.scalar(name, value)


def _to_uint8(images):
    """RGB in [-1, 1] (a batch tensor) -> list of uint8 arrays."""
    from cartoongan.evaluation import to_uint8

    return list(to_uint8(tf.cast(images, tf.float32)))


def load_held_out(folder):
    """-> (photos, targets or None): the uint8 RGB images of FOLDER/photos and, when
    FOLDER/targets exists, each photo's target of the same relative name and size.
    Raises DataError naming the file that is missing, unreadable or of another size."""
    from cartoongan.images import ImageReadError, list_images, read_image

    photo_dir, target_dir = os.path.join(folder, "photos"), os.path.join(folder, "targets")
    paths = list_images(photo_dir)
    if not paths:
        raise DataError(f"{photo_dir}: no photos to score (--held-out)")
    photos, targets = [], [] if os.path.isdir(target_dir) else None
    for path in paths:
        try:
            photos.append(read_image(path)[0])
            if targets is not None:
                target = os.path.join(target_dir, os.path.relpath(path, photo_dir))
                if not os.path.isfile(target):
                    raise DataError(f"{target}: missing, the target of {path} (--held-out)")
                targets.append(read_image(target)[0])
                if targets[-1].shape != photos[-1].shape:
                    raise DataError(f"{target}: {targets[-1].shape[1]}x{targets[-1].shape[0]}, not the size of "
                                    f"its photo {path} ({photos[-1].shape[1]}x{photos[-1].shape[0]})")
        except ImageReadError as error:
            raise DataError(f"{error} (--held-out)") from None
    return photos, targets


def _remove_partial_checkpoints(directory):
    """Removes `ckpt-N_temp*` leftovers: what a save killed or failing midway leaves."""
    import glob
    import shutil

    for path in glob.glob(os.path.join(glob.escape(directory), "*_temp*")):
        shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)


def _truncate_metrics(path, last_step):
    """Drops lines of steps after the restored checkpoint: they are about to run again."""
    if not os.path.exists(path):
        return
    lines = []
    with open(path) as f:
        for line in f:
            try:
                if json.loads(line)["step"] <= last_step:
                    lines.append(line)
            except (ValueError, KeyError):  # a line cut short by a killed run
                pass
    with atomic_file(path) as partial, open(partial, "w") as f:
        f.writelines(lines)
