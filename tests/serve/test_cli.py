"""The command line: flags, and the real server started as a user starts it."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

import numpy as np
import pytest

from cartoongan.cli import serve as cli
from cartoongan.errors import ParameterError
from cartoongan.images import psnr
from cartoongan.jobs import style_name
from cartoongan.serve import server
from tests.conftest import PROJECT_ROOT
from tests.serve.conftest import decode, encode, photo
from tests.serve.loadgen import request
from tests.serve.test_uploads import png_header_only


def test_defaults_bind_loopback_and_serve_every_local_style():
    args = cli.build_parser().parse_args([])
    assert args.host == "127.0.0.1" and args.port == 8000 and args.workers == 1
    styles, default = server.choose_styles(args.styles, args.default_style)
    assert {"hayao", "hayao_lite", "whitebox"} <= set(styles) and default == "whitebox"
    styles, default = server.choose_styles(["hayao_lite"])
    assert styles == ["hayao_lite"] and default == "hayao_lite"


@pytest.mark.parametrize("flags, message", [
    (["--styles", "nope"], "unknown style 'nope'"),
    (["--port", "70000"], "must be 0..65535"),
    (["--workers", "0"], "--workers must be >= 1"),
    (["--styles", "hayao_lite", "--default-style", "hayao"], "not among --styles"),
    (["--styles", "hayao_lite", "hayao_lite"], "named twice"),
    (["--queue-size", "-1"], "--queue-size must be >= 0"),
    (["--max-upload-mb", "0"], "--max-upload-mb must be > 0"),
    (["--read-timeout", "0"], "--read-timeout must be > 0"),
    (["--read-timeout", "nan"], "--read-timeout must be > 0"),
])
def test_wrong_flags_exit_2_before_loading_anything(capsys, flags, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(flags)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_a_busy_port_is_a_flag_error(capsys):
    sock = server.bind("127.0.0.1", 0)
    try:
        with pytest.raises(SystemExit) as exit_:
            cli.main(["--styles", "hayao_lite", "--port", str(sock.getsockname()[1])])
        assert exit_.value.code == 2 and "cannot listen there" in capsys.readouterr().err
    finally:
        sock.close()


def test_a_preset_directory_is_served_under_its_configs_name(tiny_preset):
    assert style_name(str(tiny_preset)) == "tiny"
    assert style_name("hayao_lite") == "hayao_lite"


def test_two_presets_with_one_name_are_refused_before_loading(tiny_preset, tmp_path):
    import shutil

    shutil.copytree(tiny_preset, tmp_path / "copy")  # config.json names it "tiny" too
    with pytest.raises(ParameterError) as refused:
        server.choose_styles([str(tiny_preset), str(tmp_path / "copy")])
    assert refused.value.field == "styles" and "both named 'tiny'" in str(refused.value)


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                            ("0.0.0.0", False), ("192.168.1.2", False)])
def test_only_loopback_hosts_count_as_this_machine(host, loopback):
    assert server.is_loopback(host) is loopback


def test_the_url_of_a_bound_socket_names_its_real_port():
    with server.bind("127.0.0.1", 0) as sock:
        assert server.url(sock) == f"http://127.0.0.1:{sock.getsockname()[1]}/"


@pytest.mark.slow
def test_the_real_server_over_a_socket(lite_cartoonizer, tmp_path):
    """tools/serve.py as a user runs it, on a free loopback port: answers equal the
    in-process Cartoonizer's, errors are JSON, Ctrl+C stops it cleanly."""
    log = tmp_path / "serve.log"
    with open(log, "w") as stderr:
        server = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "tools" / "serve.py"), "--styles", "hayao_lite",
                                   "--port", "0", "--max-upload-mb", "1", "--max-megapixels", "0.5"],
                                  stdout=stderr, stderr=stderr, cwd=tmp_path, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 120
        while not (found := re.search(r"serving hayao_lite on (http://127\.0\.0\.1:\d+)/", log.read_text())):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        url = found[1]
        assert request(f"{url}/healthz")[0] == 200
        for width, height in [(67, 45), (31, 64), (129, 3)]:
            image = photo(width, height, seed=height)
            status, headers, body, _ = request(f"{url}/api/cartoonize?style=hayao_lite", "POST", encode(image))
            assert status == 200 and headers["content-type"] == "image/png"
            assert psnr(decode(body), lite_cartoonizer(np.asarray(image))) >= 50
        for body, query, status in [(b"junk", "style=hayao_lite", 400), (encode(photo(8, 8)), "style=nope", 404),
                                    (png_header_only(1000, 1000), "style=hayao_lite", 413),
                                    (b"\0" * (2 << 20), "style=hayao_lite", 413)]:
            answer = request(f"{url}/api/cartoonize?{query}", "POST", body)
            assert answer[0] == status and b'"error"' in answer[2], answer[:3]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            assert server.wait(20) == 0, log.read_text()
        finally:
            server.kill()


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_server_says_stopped_and_exits_0_on_sigterm_as_on_ctrl_c(tiny_preset, tmp_path, stop):
    """A service manager's SIGTERM is a normal stop, as Ctrl+C is: uvicorn re-raised it under
    the default handler, which killed the process before it said "stopped". On the way, a
    connection that sends half a request is answered 408 after --read-timeout."""
    log = tmp_path / "serve.log"
    with open(log, "w") as stderr:
        server = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "tools" / "serve.py"), "--styles", str(tiny_preset),
                                   "--port", "0", "--read-timeout", "1"], stdout=stderr, stderr=stderr, cwd=tmp_path,
                                  env=os.environ.copy())
    try:
        deadline = time.monotonic() + 120
        while not (found := re.search(r"serving tiny on (http://127\.0\.0\.1:\d+)/", log.read_text())):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert request(f"{found[1]}/healthz")[0] == 200
        address = urllib.parse.urlsplit(found[1])
        with socket.create_connection((address.hostname, address.port), timeout=10) as stalled:
            stalled.sendall(b"POST /api/cartoonize HTTP/1.1\r\n")
            assert stalled.recv(65536).startswith(b"HTTP/1.1 408 ")
        server.send_signal(stop)
        assert server.wait(20) == 0, log.read_text()
        assert log.read_text().rstrip().endswith("stopped"), log.read_text()
    finally:
        server.kill()
