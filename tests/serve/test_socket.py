"""The API over a real socket on 127.0.0.1 (uvicorn in a thread): answers, and a client
that hangs up while queued gives its slot back."""

import json
import socket
import time
import urllib.parse

import numpy as np
import pytest

from cartoongan.serve.app import Limits, create_app
from tests.serve.conftest import Gate, decode, encode, live_server, photo
from tests.serve.loadgen import request


def test_answers_over_a_socket(tiny_cartoonizer):
    with live_server(create_app({"tiny": tiny_cartoonizer})) as url:
        image = photo(45, 23)
        status, headers, body, _ = request(f"{url}/api/cartoonize?style=tiny", "POST", encode(image))
        assert status == 200 and headers["content-type"] == "image/png"
        np.testing.assert_array_equal(decode(body), tiny_cartoonizer(np.asarray(image)))
        status, headers, body, _ = request(f"{url}/api/styles")
        assert json.loads(body)["default"] == "tiny"


def test_a_client_that_hangs_up_while_queued_frees_its_slot(tiny_cartoonizer):
    gate = Gate(tiny_cartoonizer)
    with live_server(create_app({"gate": gate}, limits=Limits(workers=1, queue_size=1))) as url:
        body = encode(photo(16, 16))
        parts = urllib.parse.urlsplit(url)
        first = _send_raw(parts, body)
        assert gate.started.acquire(timeout=10)
        second = _send_raw(parts, body)
        _wait_for(lambda: _queue(url)["waiting"] == 1)
        assert request(f"{url}/api/cartoonize", "POST", body)[0] == 503  # full
        second.close()  # the waiting client gives up
        _wait_for(lambda: _queue(url)["waiting"] == 0)
        gate.release.set()
        assert first.recv(64).startswith(b"HTTP/1.1 200")
        first.close()
        assert gate.calls == 1  # the abandoned job never ran
        assert request(f"{url}/api/cartoonize", "POST", body)[0] == 200


def _send_raw(parts, body):
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.sendall(b"POST /api/cartoonize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    return sock


def _queue(url):
    return json.loads(request(f"{url}/healthz")[2])["queue"]


def _wait_for(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.02)
