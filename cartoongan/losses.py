"""CartoonGAN losses as pure functions of logits and features.

Discriminator outputs are patch logits of any shape; every loss is a mean over all of
their elements. Generator and discriminator losses of one kind (`lsgan` or `bce`) belong
together: `ADVERSARIAL_LOSSES[kind]` is the matched pair.

The edge-promoting loss is the discriminator's third term: edge-smoothed anime images are
"fake", which teaches D that blurred edges are not anime and pushes G towards clear ones.
"""

import numpy as np
import tensorflow as tf

from cartoongan.errors import ParameterError


def lsgan_generator_loss(fake_logits):
    return tf.reduce_mean(tf.square(fake_logits - 1.0))


def lsgan_discriminator_loss(real_logits, fake_logits, smooth_logits, edge_weight=1.0):
    return (
        tf.reduce_mean(tf.square(real_logits - 1.0))
        + tf.reduce_mean(tf.square(fake_logits))
        + edge_weight * tf.reduce_mean(tf.square(smooth_logits))
    )


def _bce(logits, label):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), label), logits=logits))


def bce_generator_loss(fake_logits):
    return _bce(fake_logits, 1.0)


def bce_discriminator_loss(real_logits, fake_logits, smooth_logits, edge_weight=1.0):
    return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0) + edge_weight * _bce(smooth_logits, 0.0)


# kind -> (generator loss, discriminator loss)
ADVERSARIAL_LOSSES = {
    "lsgan": (lsgan_generator_loss, lsgan_discriminator_loss),
    "bce": (bce_generator_loss, bce_discriminator_loss),
}


def _checkerboard(images):
    """|[[1, -1], [-1, 1]] * images| on every 2x2 window: the response at the pixel-period
    checkerboard frequency (pi, pi); zero on flat regions and straight axis-aligned edges."""
    images = tf.cast(images, tf.float32)
    return tf.abs(images[:, :-1, :-1] - images[:, :-1, 1:] - images[:, 1:, :-1] + images[:, 1:, 1:])


def _stripes(images):
    """|[1, -2, 1]| along rows and along columns: the response at the pixel period of one axis
    (stripes), which the 2x2 checkerboard kernel does not see."""
    images = tf.cast(images, tf.float32)
    return (tf.abs(images[:, :, :-2] - 2.0 * images[:, :, 1:-1] + images[:, :, 2:]),
            tf.abs(images[:, :-2] - 2.0 * images[:, 1:-1] + images[:, 2:]))


def checkerboard_loss(generated, photo):
    """Mean excess of the generated images' pixel-period response over the photos': the 2x2
    checkerboard and the stripes along each axis. Zero while G adds no pixel-period energy
    that the photo does not have. Stride-2 transposed convolutions and a 7x7 head fed by a
    discriminator's strided gradients put their artefacts exactly there (at a fine-tuning rate
    of 1e-4 the stripes doubled in 300 steps while the checkerboard alone was held);
    lowering the contrast does not lower this loss below zero."""
    excess = [tf.reduce_mean(tf.nn.relu(_checkerboard(generated) - _checkerboard(photo)))]
    excess += [tf.reduce_mean(tf.nn.relu(g - p)) for g, p in zip(_stripes(generated), _stripes(photo))]
    return tf.add_n(excess)


def palette_loss(generated, anime, seed=None, generated_pixels=16384, anime_pixels=1024):
    """Mean Euclidean distance (in [-1, 1] RGB units) from each generated pixel colour to the
    nearest colour among the anime batch's pixels: the generated colours should be colours the
    style uses. A one-sided chamfer distance in colour space over random samples of the pixels
    (`generated_pixels` of the generated batch, `anime_pixels` of the anime batch), drawn from
    `seed` (a shape-[2] integer tensor; the trainer passes its seed and step, so a resumed run
    draws what an uninterrupted one would) or from TensorFlow's global generator without it.

    Why: a style's palette (cel shading's few flat colours, a toning's one axis) is a per-pixel
    property that the patch discriminator's gradient does not carry: trained on posterized
    targets, the sign of dD/dpixel on a generator's outputs agreed with the direction to the
    nearest level on 50.0% of the pixels (chance), with or without extra per-pixel layers in D.
    For styles with a rich palette every colour has a near neighbour and the term is small.
    """
    g = tf.reshape(tf.cast(generated, tf.float32), [-1, 3])
    a = tf.reshape(tf.cast(anime, tf.float32), [-1, 3])
    if seed is None:
        g = tf.gather(g, tf.random.uniform([generated_pixels], 0, tf.shape(g)[0], tf.int32))
        a = tf.gather(a, tf.random.uniform([anime_pixels], 0, tf.shape(a)[0], tf.int32))
    else:
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
        g = tf.gather(g, tf.random.stateless_uniform([generated_pixels], seeds[0], 0, tf.shape(g)[0], tf.int32))
        a = tf.gather(a, tf.random.stateless_uniform([anime_pixels], seeds[1], 0, tf.shape(a)[0], tf.int32))
    squared = (tf.reduce_sum(g * g, 1, keepdims=True) - 2.0 * tf.matmul(g, a, transpose_b=True)
               + tf.reduce_sum(a * a, 1)[None, :])
    return tf.reduce_mean(tf.sqrt(tf.maximum(tf.reduce_min(squared, axis=1), 0.0) + 1e-6))


# RGB in [-1, 1] -> Y in [-1, 1], U and V in about [-0.9, 0.9] (BT.601, as AnimeGANv2's colour loss).
_RGB_TO_YUV = ((0.299, -0.14714119, 0.61497538), (0.587, -0.28886916, -0.51496512), (0.114, 0.43601035, -0.10001026))


def rgb_to_yuv(images):
    return tf.tensordot(tf.cast(images, tf.float32), tf.constant(_RGB_TO_YUV, tf.float32), axes=1)


def photo_colour_loss(generated, photo, pool=1, chroma=1.0, level=True):
    """Colour loss between each output and its own photo (RGB in [-1, 1]): mean L1 in YUV of
    the two images averaged over `pool` x `pool` cells. AnimeGANv2 takes L1 on luma and a
    Huber loss on chroma; its quadratic part barely pulls at the small chroma differences of a
    colour cast (hayao_lite's outputs are 0.2 bluer-yellow than their photos), so chroma gets
    L1 too. It anchors the colours to the input: a pretrained style's casts are undone while
    the distribution term below pulls the colours toward the style's. With `pool` > 1 it
    anchors each cell's mean colour only, so a flat area or a thin dark line inside a cell
    costs little; per pixel (1) it holds every pixel at the photo's and erases both. `chroma`
    weighs U and V against Y (1: alike; 0: luma only, the colours left to the other terms).
    Without `level` each image's own mean is taken from it first: the photo's pattern of light
    is held, its overall level left to the style's terms."""
    generated, photo = rgb_to_yuv(generated), rgb_to_yuv(photo)
    if pool > 1:
        generated = tf.nn.avg_pool2d(generated, pool, pool, "VALID")
        photo = tf.nn.avg_pool2d(photo, pool, pool, "VALID")
    if not level:
        generated = generated - tf.reduce_mean(generated, axis=[1, 2], keepdims=True)
        photo = photo - tf.reduce_mean(photo, axis=[1, 2], keepdims=True)
    difference = tf.reduce_mean(tf.abs(generated - photo), axis=[0, 1, 2])
    return (difference[0] + chroma * (difference[1] + difference[2])) / 3


def random_grayscale(images, seed=None):
    """White-box's texture representation: RGB images in [-1, 1] -> one random mix of their
    channels (R in [0.199, 0.399], G in [0.487, 0.687], B in [0.014, 0.214], normalised to sum
    1) repeated over 3 channels, the same mix for the batch. A discriminator shown these sees
    strokes and contrast but not colour, which the colour terms already match."""
    low, high = tf.constant([0.199, 0.487, 0.014]), tf.constant([0.399, 0.687, 0.214])
    u = tf.random.uniform([3]) if seed is None else tf.random.stateless_uniform([3], tf.cast(seed, tf.int64))
    weights = low + (high - low) * u
    grey = tf.tensordot(tf.cast(images, tf.float32), weights / tf.reduce_sum(weights), axes=1)[..., None]
    return tf.repeat(grey, 3, axis=-1)


def gram(features):
    """Gram matrices [B, C, C] of feature maps [B, H, W, C], divided by H * W * C."""
    features = tf.cast(features, tf.float32)
    shape = tf.shape(features)
    flat = tf.reshape(features, [shape[0], -1, shape[3]])
    return tf.matmul(flat, flat, transpose_a=True) / tf.cast(shape[1] * shape[2] * shape[3], tf.float32)


def style_loss(generated_features, anime_features):
    """AnimeGANv2's style loss: L1 between the Gram matrices of the content network's features
    of the generated and the anime images (the trainer passes grayscale images, so it is
    texture, not colour). Batches of different images: their textures, not their layouts,
    are compared. For lists of maps (several layers), the sum over the layers."""
    if isinstance(generated_features, (list, tuple)):
        return tf.add_n([style_loss(a, b) for a, b in zip(generated_features, anime_features)])
    return tf.reduce_mean(tf.abs(gram(generated_features) - gram(anime_features)))


def sliced_wasserstein(a, b, directions):
    """Sliced 1-Wasserstein distance between two point clouds `a` [N, C] and `b` [M, C] along
    unit `directions` [C, K]: the mean |quantile difference| of their projections, the
    quantiles taken at min(N, M) evenly spaced ranks (all of them when N == M)."""
    pa = tf.sort(tf.matmul(tf.cast(a, tf.float32), directions), axis=0)
    pb = tf.sort(tf.matmul(tf.cast(b, tf.float32), directions), axis=0)
    n = tf.minimum(tf.shape(pa)[0], tf.shape(pb)[0])
    ranks = tf.linspace(0.0, 1.0, n)

    def at(sorted_values):
        index = tf.cast(tf.round(ranks * tf.cast(tf.shape(sorted_values)[0] - 1, tf.float32)), tf.int32)
        return tf.gather(sorted_values, index)

    return tf.reduce_mean(tf.abs(at(pa) - at(pb)))


def random_directions(count, channels=3, seed=None):
    """`count` random unit vectors as a [channels, count] matrix (stateless with a shape-[2] seed)."""
    shape = [channels, count]
    d = tf.random.normal(shape) if seed is None else tf.random.stateless_normal(shape, tf.cast(seed, tf.int64))
    return d / tf.norm(d, axis=0, keepdims=True)


def colour_distribution_loss(generated, anime, seed=None, projections=32):
    """Sliced Wasserstein distance between the colours of the generated batch and of the anime
    batch (RGB in [-1, 1], every pixel; new random directions from `seed`, a shape-[2] integer
    tensor, at each step). It matches the whole distribution, proportions included: unlike a
    nearest-colour (chamfer) term it is not satisfied by collapsing onto the style's most common
    colours, and it moves global colour styles (sepia, desaturation, a palette) that the patch
    discriminator's gradient does not carry."""
    g = tf.reshape(tf.cast(generated, tf.float32), [-1, 3])
    a = tf.reshape(tf.cast(anime, tf.float32), [-1, 3])
    return sliced_wasserstein(g, a, random_directions(projections, seed=seed))


# Bins of the local contrast (levels of 0..255 a pixel) that line_profile compares.
LINE_CONTRAST_BINS = (4.0, 8.0, 16.0, 32.0)
_BINOMIAL5 = (1.0, 4.0, 6.0, 4.0, 1.0)


def _closing(grey, size=5):
    """Grey-level closing (dilation then erosion) over `size` x `size` windows, [B, H, W, 1]:
    each thin dark structure filled with the level around it."""
    dilated = tf.nn.max_pool2d(grey, size, 1, "SAME")
    return -tf.nn.max_pool2d(-dilated, size, 1, "SAME")


def _local_contrast(grey):
    """Gradient magnitude (levels a pixel) of a 5x5-binomial-blurred map, [B, H, W, 1]."""
    kernel = tf.constant(_BINOMIAL5) / 16.0
    padded = tf.pad(grey, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="SYMMETRIC")
    blurred = tf.nn.conv2d(tf.nn.conv2d(padded, tf.reshape(kernel, [5, 1, 1, 1]), 1, "VALID"),
                           tf.reshape(kernel, [1, 5, 1, 1]), 1, "VALID")
    gradients = tf.image.sobel_edges(blurred)[..., 0, :] / 8.0
    return tf.norm(gradients, axis=-1, keepdims=True)


def line_profile(images):
    """How dark the thin structures are where the picture has edges: for RGB images in
    [-1, 1], the mean ink of each channel (its 5x5 closing minus itself, 0..255 levels) over
    the pixels of each bin of local contrast (the gradient of the blurred closing of the luma,
    so that drawn lines do not count as edges; LINE_CONTRAST_BINS), [bins + 1, 3], and the
    share of the pixels in each bin, [bins + 1]. A style with outlines has ink of its lines'
    colour at its edges and little on flat areas; photos have texture everywhere. The bins
    are a constant of the graph; the ink is differentiable."""
    images = (tf.cast(images, tf.float32) + 1.0) * 127.5
    grey = tf.reduce_sum(images * tf.constant([0.299, 0.587, 0.114]), axis=-1, keepdims=True)
    ink = _closing(images) - images
    contrast = tf.stop_gradient(_local_contrast(_closing(grey)))
    bins = tf.reshape(tf.raw_ops.Bucketize(input=contrast, boundaries=list(LINE_CONTRAST_BINS)), [-1])
    count = tf.math.unsorted_segment_sum(tf.ones_like(bins, tf.float32), bins, len(LINE_CONTRAST_BINS) + 1)
    total = tf.math.unsorted_segment_sum(tf.reshape(ink, [-1, 3]), bins, len(LINE_CONTRAST_BINS) + 1)
    return total / tf.maximum(count, 1.0)[:, None], count / tf.reduce_sum(count)


def line_loss(generated, anime):
    """L1 between the generated and the anime batches' line profiles (line_profile), in
    units of the [-1, 1] range, summed over the contrast bins both batches have pixels in,
    averaged over the channels: asks for thin lines of the anime set's darkness and colour
    where it draws them (at edges) and none where it has none."""
    generated_ink, generated_share = line_profile(generated)
    anime_ink, anime_share = line_profile(anime)
    present = tf.cast((generated_share > 0) & (anime_share > 0), tf.float32)[:, None]
    return tf.reduce_sum(present * tf.abs(generated_ink - anime_ink)) / (3 * 127.5)


def network_share_loss(share):
    """Mean square of the network's own share of the output before the tanh
    (models.photo_path.with_output_parts): small when the photo and ink paths carry the
    picture and the network adds only what the other losses ask for."""
    return tf.reduce_mean(tf.square(tf.cast(share, tf.float32)))


def network_share_colour_loss(share, free=None):
    """Mean square of the network's share less its dark grey part (where its mean over the
    channels is negative): the colours and light it adds. Dark lines and shadows, the ones a
    style draws over the paths, cost nothing here; re-drawing the photo's colours and texture
    does. Where `free` ([B, H, W, 1]) is 1 nothing is counted (the mean is still over every
    pixel): near the photo's edges a grey line over a colour needs colour in the share."""
    share = tf.cast(share, tf.float32)
    dark_grey = tf.minimum(tf.reduce_mean(share, axis=-1, keepdims=True), 0.0)
    squares = tf.square(share - dark_grey)
    if free is not None:
        squares *= 1.0 - tf.cast(free, tf.float32)
    return tf.reduce_mean(squares)


def content_loss(photo_features, generated_features):
    """L1 distance of feature maps (the paper's semantic content loss); for lists of maps
    (several layers), the sum of the per-layer mean distances."""
    if isinstance(photo_features, (list, tuple)):
        return tf.add_n([content_loss(a, b) for a, b in zip(photo_features, generated_features)])
    return tf.reduce_mean(tf.abs(photo_features - generated_features))


# The VGG19 convolutions up to the content layer: name -> kernel shape (a weights file is
# checked against these before it is loaded).
VGG19_CONTENT_KERNELS = {
    f"block{block}_conv{i}": (3, 3, cin if i == 1 else cout, cout)
    for block, (cin, cout, count) in enumerate(((3, 64, 2), (64, 128, 2), (128, 256, 4), (256, 512, 4)), start=1)
    for i in range(1, count + 1)
}


class VggWeightsError(ParameterError):
    """The VGG19 weights of the content loss (`vgg_weights`) cannot be had, or a file is not
    VGG19's. A ValueError whose message names the parameter (`explain` gives a caller's name)."""

    def __init__(self, template, **values):
        super().__init__("vgg_weights", template, **values)


def check_vgg19_weights_file(path):
    """Raises VggWeightsError unless `path` is an HDF5 file holding VGG19 kernels (layer names and
    shapes of block1_conv1 .. block4_conv4), e.g. Keras' vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            shapes = []
            f.visititems(lambda name, item: shapes.append((name, tuple(item.shape)))
                         if isinstance(item, h5py.Dataset) else None)
    except OSError as error:
        raise VggWeightsError("{name} {path}: not an HDF5 weights file ({error})", path=path, error=error) from error
    for layer, kernel in VGG19_CONTENT_KERNELS.items():
        if not any(shape == kernel and layer in name.split("/") for name, shape in shapes):
            found = ", ".join(f"{name} {shape}" for name, shape in shapes[:3]) or "no arrays"
            raise VggWeightsError(
                "{name} {path}: not VGG19 weights: no {layer} kernel of shape {kernel} (the file holds {count} "
                "arrays: {found})", path=path, layer=layer, kernel=kernel, count=len(shapes),
                found=found + (", ..." if len(shapes) > 3 else ""))


class VggFeatures:
    """VGG19 `block4_conv4` features of images in [-1, 1] (RGB or BGR as the generator's
    preset says), with VGG's own preprocessing (BGR, [0, 255], ImageNet mean removed).

    `weights`: "imagenet" (Keras downloads and caches them), a path to a VGG19 notop weights
    file (checked by layer names and shapes), or "random": Glorot-uniform weights drawn from
    `seed`, the same in every run (so a resumed run optimizes the same loss). Random VGG
    features do not tell a scene from another one (the L1 from a photo to its toy rendering is
    0.93x the L1 to a different photo): a content loss on them anchors nothing, and training
    uses the `GeneratorEncoderFeatures` stand-in instead unless told otherwise.
    """

    LAYER = "block4_conv4"
    # keras.applications.vgg19 "caffe" preprocessing: BGR means in [0, 255].
    _BGR_MEAN = (103.939, 116.779, 123.68)
    # The features are divided by this: with the ImageNet weights the L1 from 64 px held-out
    # photos to their toy renderings is then 0.29 (raw: 94.8), the encoder stand-in's, so a
    # content weight means about the same pull with either network (docs/learning.md).
    FEATURE_SCALE = 325.0

    def __init__(self, weights="imagenet", channel_order="RGB", seed=0):
        import keras

        self.channel_order = channel_order
        if weights not in ("imagenet", "random"):
            check_vgg19_weights_file(weights)
        source = None if weights == "random" else weights
        try:
            vgg = keras.applications.VGG19(include_top=False, weights=source, input_shape=(None, None, 3))
        except Exception as error:  # the download raises several types; all mean the same here
            if weights != "imagenet":
                raise VggWeightsError("{name} {path}: cannot load VGG19 weights ({error})", path=weights,
                                      error=error) from error
            raise VggWeightsError(
                "{name} imagenet: cannot get the ImageNet VGG19 weights for the content loss ({error}). "
                "Keras downloads them once into ~/.keras/models; offline, set {name} to a file "
                "(vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5) or to random (the content loss "
                "then uses the shipped stand-in, see {names[content_features]}).", error=error) from error
        vgg.trainable = False
        self.model = keras.Model(vgg.input, vgg.get_layer(self.LAYER).output, name="vgg19_content")
        if weights == "random":
            rng = np.random.default_rng(seed)
            for layer in self.model.layers:
                if layer.weights:
                    kernel, bias = layer.get_weights()
                    fan_in, fan_out = np.prod(kernel.shape[:-1]), np.prod(kernel.shape[:-2]) * kernel.shape[-1]
                    limit = np.sqrt(6.0 / (fan_in + fan_out))
                    layer.set_weights([rng.uniform(-limit, limit, kernel.shape).astype(kernel.dtype), np.zeros_like(bias)])

    def __call__(self, images):
        x = (tf.cast(images, tf.float32) + 1.0) * 127.5
        if self.channel_order == "RGB":
            x = x[..., ::-1]
        x = x - tf.constant(self._BGR_MEAN, tf.float32)
        return self.model(x, training=False) / self.FEATURE_SCALE


class GeneratorEncoderFeatures:
    """The offline stand-in for VGG19 content features: the encoder (7x7 stem and both
    stride-2 blocks, output `down2_relu`, 1/4 resolution) of a pretrained CartoonGAN
    generator shipped with the project (default `hayao_lite`, in `pretrained/`), frozen.

    It was trained on photos, so its features keep a scene's layout and objects while being
    indifferent to flat colour changes: on held-out ADE20K photos, the L1 from a photo to its
    toy-anime rendering is 0.60x the L1 to a different photo (random VGG19: 0.93x, i.e. no
    content signal). Not VGG: the content weight that suits it is its own (see TrainConfig).
    `channel_order` is the convention of the images it is given; it converts to the
    stand-in's own.
    """

    # down2_relu alone follows instance norms, which make it blind to brightness and contrast:
    # a photo darkened to 15% of its range gave the same features (L1 4e-7), and a fine-tune
    # whose palette term pulled toward the style's darkest colour went black without the
    # content loss noticing. The stem convolution before the first norm sees it (L1 0.27, a
    # different photo 0.23, the photo's toy rendering 0.11).
    LAYERS = ("stem_conv", "down2_relu")

    def __init__(self, preset="hayao_lite", channel_order="RGB", layers=None):
        import keras

        from cartoongan.presets import load_preset

        generator, preprocessing, _ = load_preset(preset, dtype="float32")
        generator.trainable = False
        self.flip = preprocessing.channel_order != channel_order
        layers = tuple(layers or self.LAYERS)
        outputs = [generator.get_layer(name).output for name in layers]
        self.model = keras.Model(generator.input, outputs if len(outputs) > 1 else outputs[0], name="encoder_content")
        self.model.trainable = False

    def __call__(self, images):
        x = tf.cast(images, tf.float32)
        return self.model(x[..., ::-1] if self.flip else x, training=False)


CONTENT_FEATURES = ("auto", "vgg", "encoder")


def content_features(kind, vgg_weights, channel_order, encoder_preset="hayao_lite"):
    """The content loss's feature extractor: "vgg" (VGG19 with `vgg_weights`), "encoder"
    (`GeneratorEncoderFeatures`), or "auto": VGG19 when its weights are real (imagenet or a
    file), the encoder when they would be random."""
    if kind not in CONTENT_FEATURES:
        raise ValueError(f"content features must be one of {CONTENT_FEATURES}, not {kind!r}")
    if kind == "auto":
        kind = "encoder" if vgg_weights == "random" else "vgg"
    if kind == "encoder":
        return GeneratorEncoderFeatures(encoder_preset, channel_order=channel_order)
    return VggFeatures(vgg_weights, channel_order=channel_order)


def superpixel_flatten(images, segments=64):
    """White-box's structure representation: each RGB image in [-1, 1] with every SLIC
    superpixel (about `segments` of them, scikit-image) filled with its mean colour; a
    constant of the graph (no gradient). The content network's distance between an output and
    this flattened version of itself asks for flat regions with the output's own layout."""

    def flatten(batch):
        from skimage.segmentation import slic

        out = np.empty_like(batch)
        for i, image in enumerate(batch):
            labels = slic((image + 1.0) / 2.0, n_segments=segments, compactness=10.0, start_label=0, channel_axis=-1)
            counts = np.maximum(np.bincount(labels.ravel()), 1)[:, None]
            means = np.stack([np.bincount(labels.ravel(), image[..., c].ravel()) for c in range(3)], 1) / counts
            out[i] = means[labels]
        return out

    images = tf.cast(tf.stop_gradient(images), tf.float32)
    flat = tf.numpy_function(flatten, [images], tf.float32, stateful=False)
    return tf.ensure_shape(flat, images.shape)
