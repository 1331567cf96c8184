import numpy as np
import pytest
from PIL import Image

from cartoongan import Cartoonizer
from cartoongan.inference import uint8_cartoonize_fn
from cartoongan.presets import load_preset
from tests.conftest import psnr, shared_path


@pytest.fixture(scope="module")
def tiny(tiny_preset):
    return Cartoonizer.from_pretrained(str(tiny_preset), precision="float32")


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (135, 134), (64, 96), (33, 200)])
def test_output_is_uint8_rgb_of_the_input_size(tiny, size):
    image = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    output = tiny(image)
    assert output.dtype == np.uint8 and output.shape == (*size, 3)


def test_contract_is_bgr_scaled_generator_output(tiny_preset):
    """The uint8 path equals the raw generator on the BGR [-1, 1] image, flipped back to RGB."""
    generator, preprocessing, _ = load_preset(str(tiny_preset))
    assert preprocessing.channel_order == "BGR"
    image = np.random.default_rng(1).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    raw = generator.predict(image[None, ..., ::-1].astype("float32") / 127.5 - 1, verbose=0)[0]
    expected = np.clip(np.round((raw[..., ::-1] + 1) * 127.5), 0, 255)
    output = Cartoonizer(generator, preprocessing)(image)
    assert np.abs(output.astype(int) - expected).max() <= 1


def test_batch_groups_sizes_and_matches_single_calls(tiny):
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, s, dtype=np.uint8) for s in [(20, 24, 3), (17, 9, 3), (20, 24, 3)]]
    for single, batched in zip([tiny(i) for i in images], tiny.cartoonize_batch(images)):
        assert np.abs(single.astype(int) - batched).max() <= 1


def test_the_network_runs_on_tensorflows_single_threaded_executor(tiny, monkeypatch):
    """TensorFlow caches its oneDNN primitives per thread and input shape (whitebox: 3.5 MB a
    new shape, 1,024 primitives a thread): photos of many sizes filled a cache on each of its
    inter-op threads (a compare run of 600 stood at 1,174 MB before its last page, 1,132 MB on
    one thread; docs/reliability.md). Every call, one image or a batch, runs on the
    single-threaded executor, with the results of the default one."""
    import tensorflow as tf

    executors = []
    real = tf.experimental.function_executor_type
    monkeypatch.setattr(tf.experimental, "function_executor_type", lambda name: executors.append(name) or real(name))
    image = np.random.default_rng(3).integers(0, 256, (20, 28, 3), dtype=np.uint8)
    single, [batched] = tiny(image), tiny.cartoonize_batch([image])
    assert executors == ["SINGLE_THREADED_EXECUTOR"] * 2
    default = tf.function(uint8_cartoonize_fn(tiny.generator, tiny.preprocessing),
                          input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])(image[None]).numpy()[0]
    np.testing.assert_array_equal(single, default)
    np.testing.assert_array_equal(batched, default)


def test_rejects_non_uint8_rgb(tiny):
    with pytest.raises(ValueError, match="uint8 RGB"):
        tiny(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="uint8 RGB"):
        tiny(np.zeros((8, 8, 3), np.float32))


def test_hayao_reproduces_published_cartoongan_outputs(hayao_preset):
    """External reference: the CartoonGAN-Hayao outputs published with the AnimeGAN paper."""
    photos = sorted(shared_path("data", "eval", "animegan_comparison", "photos").glob("*.jpg"))
    published = shared_path("data", "eval", "animegan_comparison", "cartoongan_hayao_outputs")
    cartoonizer = Cartoonizer.from_pretrained(hayao_preset, precision="float32")
    scores = []
    for photo in photos:
        (reference,) = published.glob(photo.stem + "_*.jpg")
        image = np.asarray(Image.open(photo).convert("RGB").resize((300, 300), Image.Resampling.BICUBIC))
        scores.append(psnr(cartoonizer(image), np.asarray(Image.open(reference).convert("RGB"))))
    assert len(scores) == 22
    assert np.mean(scores) >= 24.0, scores
