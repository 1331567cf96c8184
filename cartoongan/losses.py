"""CartoonGAN losses as pure functions of logits and features.

Discriminator outputs are patch logits of any shape; every loss is a mean over all of
their elements. Generator and discriminator losses of one kind (`lsgan` or `bce`) belong
together: `ADVERSARIAL_LOSSES[kind]` is the matched pair.

The edge-promoting loss is the discriminator's third term: edge-smoothed anime images are
"fake", which teaches D that blurred edges are not anime and pushes G towards clear ones.
"""

import tensorflow as tf


def lsgan_generator_loss(fake_logits):
    return tf.reduce_mean(tf.square(fake_logits - 1.0))


def lsgan_discriminator_loss(real_logits, fake_logits, smooth_logits):
    return (
        tf.reduce_mean(tf.square(real_logits - 1.0))
        + tf.reduce_mean(tf.square(fake_logits))
        + tf.reduce_mean(tf.square(smooth_logits))
    )


def _bce(logits, label):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), label), logits=logits))


def bce_generator_loss(fake_logits):
    return _bce(fake_logits, 1.0)


def bce_discriminator_loss(real_logits, fake_logits, smooth_logits):
    return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0) + _bce(smooth_logits, 0.0)


# kind -> (generator loss, discriminator loss)
ADVERSARIAL_LOSSES = {
    "lsgan": (lsgan_generator_loss, lsgan_discriminator_loss),
    "bce": (bce_generator_loss, bce_discriminator_loss),
}


def content_loss(photo_features, generated_features):
    """L1 distance of VGG feature maps (the paper's semantic content loss)."""
    return tf.reduce_mean(tf.abs(photo_features - generated_features))


class VggFeatures:
    """VGG19 `block4_conv4` features of images in [-1, 1] (RGB or BGR as the generator's
    preset says), with VGG's own preprocessing (BGR, [0, 255], ImageNet mean removed).

    `weights`: "imagenet" (Keras downloads and caches them), "random" (smoke tests only:
    the content loss is then meaningless), or a path to a VGG19 notop weights file.
    """

    LAYER = "block4_conv4"
    # keras.applications.vgg19 "caffe" preprocessing: BGR means in [0, 255].
    _BGR_MEAN = (103.939, 116.779, 123.68)

    def __init__(self, weights="imagenet", channel_order="RGB"):
        import keras

        self.channel_order = channel_order
        source = None if weights == "random" else weights
        try:
            vgg = keras.applications.VGG19(include_top=False, weights=source, input_shape=(None, None, 3))
        except Exception as error:  # the download raises several types; all mean the same here
            if weights != "imagenet":
                raise ValueError(f"cannot load VGG19 weights from {weights}: {error}") from error
            raise RuntimeError(
                "cannot get the ImageNet VGG19 weights for the content loss "
                f"({error}). Keras downloads them once into ~/.keras/models; offline, pass "
                "--vgg-weights PATH (vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5) or "
                "--vgg-weights random for smoke tests."
            ) from error
        vgg.trainable = False
        self.model = keras.Model(vgg.input, vgg.get_layer(self.LAYER).output, name="vgg19_content")

    def __call__(self, images):
        x = (tf.cast(images, tf.float32) + 1.0) * 127.5
        if self.channel_order == "RGB":
            x = x[..., ::-1]
        x = x - tf.constant(self._BGR_MEAN, tf.float32)
        return self.model(x, training=False)
