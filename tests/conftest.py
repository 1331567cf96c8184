"""Shared fixtures: the ../shared data (skip or fail), a loopback weights server, a cache."""

import functools
import http.server
import importlib
import os
import threading
from pathlib import Path

import pytest

from cartoongan.images import psnr  # noqa: F401  (used by the tests)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def shared_path(*parts):
    """A path inside ../shared; skips when it is absent, fails when CARTOONGAN_SHARED is set."""
    configured = os.environ.get("CARTOONGAN_SHARED")
    root = Path(configured) if configured and os.path.isdir(configured) else PROJECT_ROOT.parent / "shared"
    path = root.joinpath(*parts)
    if not path.exists():
        message = f"{path} is absent (third-party data from ../shared; see README 'Run the tests')"
        if configured:
            pytest.fail(message + " but CARTOONGAN_SHARED is set")
        pytest.skip(message)
    return path


def _required_in_ci():
    return bool(os.environ.get("CARTOONGAN_SHARED") or os.environ.get("CI"))


def required_module(name):
    """`importlib.import_module(name)` for a package the test extra installs (LiteRT,
    onnxruntime, tf2onnx, Beam, JAX, ...): skips with the install command when it is missing,
    fails when CARTOONGAN_SHARED or CI is set, as `shared_path` does, since CI installs it."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        message = f"{name} is not importable ({error}); pip install -e '.[test]' installs it"
        if _required_in_ci():
            pytest.fail(message + ", and CARTOONGAN_SHARED or CI is set")
        pytest.skip(message, allow_module_level=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def http_server():
    """serve(directory) -> base URL of a real HTTP server on 127.0.0.1 for that directory."""
    servers = []

    def serve(directory):
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def session_home(tmp_path_factory, http_server):
    """CARTOONGAN_HOME for the session, with the upstream weights served from loopback."""
    home = tmp_path_factory.mktemp("cartoongan_home")
    weights = shared_path("weights", "cartoongan")
    saved = {k: os.environ.get(k) for k in ("CARTOONGAN_HOME", "CARTOONGAN_WEIGHTS_URL")}
    os.environ["CARTOONGAN_HOME"] = str(home)
    os.environ["CARTOONGAN_WEIGHTS_URL"] = http_server(weights)
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def hayao_preset(session_home):
    """The float32 hayao preset converted from the upstream files, downloaded over HTTP from
    loopback once a session (the reference the shipped float16 `pretrained/hayao` is held to)."""
    from cartoongan.presets import fetch_style

    return fetch_style("hayao")


@pytest.fixture(scope="session")
def tiny_preset(tmp_path_factory):
    """A small random CartoonGAN preset (4 base filters): fast CLI and contract tests."""
    import keras

    from cartoongan.families.cartoongan.generator import CartoonGanGenerator
    from cartoongan.presets import Preprocessing, save_preset

    keras.utils.set_random_seed(0)
    generator = CartoonGanGenerator(filters=4, num_residual_blocks=1)
    return save_preset(generator, tmp_path_factory.mktemp("presets") / "tiny", Preprocessing("BGR"), name="tiny")
