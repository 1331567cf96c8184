"""The two layers of AnimeGANv3 that need whole-map statistics: the linearly adaptive
denormalization (LADE) after every convolution and the external attention at the bottleneck.

Both follow the protocol of `cartoongan.models.layers.InstanceNormalization` that the tiler
(`cartoongan.tiling`) streams: `moments(x)` gives float32 per-image statistics of the map,
`normalize(x, *statistics)` applies them, and `call(x)` is `normalize(x, *moments(x))`.
Statistics are computed in float32 whatever the dtype policy (pinned, as the norms are).
"""

import keras
from keras import ops

from cartoongan.models.layers import ImageLayerNormalization


def _as_float32(x):
    return ops.cast(x, "float32")


@keras.saving.register_keras_serializable(package="cartoongan")
class LinearAdaptiveDenormalization(keras.layers.Layer):
    """LADE (AnimeGANv3): instance-normalise `x` with its own per-channel moments, then give it
    the per-channel mean and standard deviation of `t = x @ kernel` (a 1x1 convolution without
    bias): `(x - mean(x)) / sqrt(var(x) + eps) * sqrt(var(t) + eps) + mean(t)`, moments over
    height and width. `t` is used only through its moments.
    """

    def __init__(self, epsilon=1e-12, **kwargs):
        kwargs["dtype"] = "float32"
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=(channels, channels), initializer="glorot_uniform")

    def call(self, x):
        return self.normalize(x, *self.moments(x))

    def moments(self, x):
        """float32 (mean, variance) of `x` and of `x @ kernel`, per channel, keepdims."""
        x = _as_float32(x)
        mean, variance = ops.moments(x, axes=[1, 2], keepdims=True)
        target_mean, target_variance = ops.moments(ops.matmul(x, self.kernel), axes=[1, 2], keepdims=True)
        return mean, variance, target_mean, target_variance

    def normalize(self, x, mean, variance, target_mean, target_variance):
        # One multiply-add per value: the per-channel maps are folded first.
        multiplier = ops.sqrt(target_variance + self.epsilon) * ops.rsqrt(variance + self.epsilon)
        return _as_float32(x) * multiplier + (target_mean - mean * multiplier)

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        return {**config, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="cartoongan")
class ExternalAttention(keras.layers.Layer):
    """External attention (Guo et al. 2021) as AnimeGANv3 applies it to the bottleneck map:
    `q = x @ query_kernel` (1x1 conv), attention `a = softmax over all positions of q @ memory`
    (per memory slot), then each position's weights divided by their sum (+ `epsilon`),
    `y = a @ memory^T @ output_kernel` (1x1 conv). The norm, residual sum and activation that
    follow are separate layers.

    The softmax over positions is the only whole-map statistic: `moments` gives its maximum
    and sum of exponentials per slot, and `merge_moments` combines two tiles' (the tiler's
    hook for statistics that are not means and variances).
    """

    def __init__(self, units=None, epsilon=1e-9, **kwargs):
        kwargs["dtype"] = "float32"
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.units = None if units is None else int(units)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.query_kernel = self.add_weight(name="query_kernel", shape=(channels, channels),
                                            initializer="glorot_uniform")
        self.memory = self.add_weight(name="memory", shape=(channels, self.units or channels),
                                      initializer="glorot_uniform")
        self.output_kernel = self.add_weight(name="output_kernel", shape=(channels, channels),
                                             initializer="glorot_uniform")

    def _logits(self, x):
        return ops.matmul(ops.matmul(_as_float32(x), self.query_kernel), self.memory)

    def call(self, x):
        return self.normalize(x, *self.moments(x))

    def moments(self, x):
        """float32 (max, sum of exp(logit - max)) over the positions, per slot, keepdims."""
        logits = self._logits(x)
        peak = ops.max(logits, axis=[1, 2], keepdims=True)
        return peak, ops.sum(ops.exp(logits - peak), axis=[1, 2], keepdims=True)

    @staticmethod
    def merge_moments(first, second):
        """The (max, sum) of two parts of a map from each part's (numpy arrays)."""
        import numpy as np

        (peak_a, sum_a), (peak_b, sum_b) = first, second
        peak = np.maximum(peak_a, peak_b)
        return peak, sum_a * np.exp(peak_a - peak) + sum_b * np.exp(peak_b - peak)

    def normalize(self, x, peak, total):
        weights = ops.exp(self._logits(x) - peak) / total
        weights = weights / (self.epsilon + ops.sum(weights, axis=-1, keepdims=True))
        return ops.matmul(ops.matmul(weights, ops.transpose(self.memory)), self.output_kernel)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        return {**config, "units": self.units, "epsilon": self.epsilon}



@keras.saving.register_keras_serializable(package="cartoongan")
class ChannelInstanceNormalization(ImageLayerNormalization):
    """TF1's `tf.contrib.layers.instance_norm`: per-image, per-channel moments over height and
    width, `(x - mean) * rsqrt(variance + epsilon) * scale + shift` (epsilon inside the root).
    The tiler streams it as the other norms (`moments`, `normalize`)."""

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(epsilon=epsilon, **kwargs)
        self.per_channel = True
