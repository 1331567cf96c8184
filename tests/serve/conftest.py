"""Fixtures of the web app tests: fast cartoonizers, the app in-process, and a real uvicorn
server on a loopback port (in a thread, sharing the warm models)."""

import contextlib
import io
import threading
import time

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def tiny_cartoonizer(tiny_preset):
    from cartoongan.inference import Cartoonizer

    return Cartoonizer.from_pretrained(str(tiny_preset), precision="float32")


@pytest.fixture(scope="session")
def lite_cartoonizer():
    """The shipped hayao_lite, as the server loads it (precision auto)."""
    from cartoongan.inference import Cartoonizer

    return Cartoonizer.from_pretrained("hayao_lite", precision="auto")


def photo(width, height, seed=0, mode="RGB"):
    """A smooth synthetic photo (gradients and a disc): structure the generators react to."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                    ((x - width / 2) ** 2 + (y - height / 2) ** 2 < (min(width, height) / 3) ** 2) * 200], -1)
    rgb = np.clip(rgb + rng.integers(0, 20, rgb.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(rgb).convert(mode)


def encode(image, image_format="PNG", **options):
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def decode(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@contextlib.contextmanager
def live_server(app):
    """Runs `app` (from `create_app`) under uvicorn, as `server.serve` configures it, on
    127.0.0.1 (a free port) in a thread; yields the base URL."""
    import uvicorn

    from cartoongan.serve.server import bind, uvicorn_config

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn_config(app, graceful_shutdown=2))  # the settings cartoongan-serve runs
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class Gate:
    """A cartoonizer stand-in that blocks until released: fills the queue on demand."""

    def __init__(self, inner=None):
        self.inner = inner
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.calls = 0

    def __call__(self, rgb):
        self.calls += 1
        self.started.release()
        assert self.release.wait(30), "the test never released the gate"
        return self.inner(rgb) if self.inner else 255 - rgb
