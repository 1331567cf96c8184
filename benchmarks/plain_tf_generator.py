"""The CartoonGAN generator written directly in TensorFlow ops, float32, no Keras.

It is the speed reference that the inference benchmark measures the Cartoonizer against
in the same run: what a plain, straightforward TF implementation of the network achieves.
It takes the upstream per-tensor arrays directly (PyTorch layout), independently of the
project's converter.
"""

import tensorflow as tf


def _conv(x, tensors, name, stride=1, pad=1):
    if pad:
        x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    kernel = tf.transpose(tensors[f"{name}.weight"], (2, 3, 1, 0))
    return tf.nn.conv2d(x, kernel, stride, "VALID") + tensors[f"{name}.bias"]


def _instance_norm(x, tensors, name):
    mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
    return (x - mean) / (tf.sqrt(variance) + 1e-9) * tensors[f"{name}.scale"] + tensors[f"{name}.shift"]


def _deconv(x, tensors, name):
    kernel = tf.transpose(tensors[f"{name}.weight"], (2, 3, 1, 0))
    n, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    out_shape = tf.stack([n, 2 * h + 1, 2 * w + 1, kernel.shape[2]])
    y = tf.nn.conv2d_transpose(x, kernel, out_shape, 2, "VALID")
    return y[:, 1:, 1:, :] + tensors[f"{name}.bias"]


def make_plain_generator(upstream_tensors):
    """A tf.function NHWC float32 (BGR, [-1, 1]) -> NHWC float32 over upstream arrays."""
    t = {k: tf.constant(v, tf.float32) for k, v in upstream_tensors.items()}

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def generate(x):
        x = tf.nn.relu(_instance_norm(_conv(x, t, "conv01_1", pad=3), t, "in01_1"))
        for block in ("02", "03"):
            x = _conv(x, t, f"conv{block}_1", stride=2)
            x = _conv(x, t, f"conv{block}_2")
            x = tf.nn.relu(_instance_norm(x, t, f"in{block}_1"))
        for block in range(4, 12):
            y = tf.nn.relu(_instance_norm(_conv(x, t, f"conv{block:02d}_1"), t, f"in{block:02d}_1"))
            x = x + _instance_norm(_conv(y, t, f"conv{block:02d}_2"), t, f"in{block:02d}_2")
        for up, norm in (("01", "12"), ("02", "13")):
            x = _deconv(x, t, f"deconv{up}_1")
            x = tf.nn.relu(_instance_norm(_conv(x, t, f"deconv{up}_2"), t, f"in{norm}_1"))
        return tf.tanh(_conv(x, t, "deconv03_1", pad=3))

    return generate
