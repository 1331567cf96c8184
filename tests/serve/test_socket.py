"""The API over a real socket on 127.0.0.1 (uvicorn in a thread): answers, and a client
that hangs up while queued gives its slot back."""

import json
import re
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


def _answer(sock, timeout=10):
    """Everything the server sends until it closes the connection (or `timeout`)."""
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _json_error(answer, status):
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().lower().split("\r\n")
    assert lines[0].startswith(f"http/1.1 {status} "), answer
    assert "content-type: application/json" in lines and "x-content-type-options: nosniff" in lines, lines
    return json.loads(body)["error"]


@pytest.fixture(scope="module")
def quick_timeout_url():
    """A real uvicorn on 127.0.0.1 that gives a request 1 s to arrive (`--read-timeout 1`)."""
    with live_server(create_app({"inverse": lambda rgb: 255 - rgb}, limits=Limits(read_timeout=1))) as url:
        yield urllib.parse.urlsplit(url)


@pytest.mark.parametrize("sent", [b"", b"POST /api/cartoonize HTTP/1.1\r\nHost: 127.0.0.1\r\n"],
                         ids=["silent", "half the headers"])
def test_a_request_whose_headers_stall_is_answered_408_and_closed(quick_timeout_url, sent):
    start = time.monotonic()
    with socket.create_connection((quick_timeout_url.hostname, quick_timeout_url.port)) as sock:
        sock.sendall(sent)
        assert "headers did not arrive within 1 s" in _json_error(_answer(sock), 408)
    assert time.monotonic() - start < 5


def test_headers_sent_a_byte_at_a_time_still_meet_the_deadline(quick_timeout_url):
    """The deadline runs from the first byte: trickling bytes does not renew it."""
    start = time.monotonic()
    with socket.create_connection((quick_timeout_url.hostname, quick_timeout_url.port)) as sock:
        sock.settimeout(0.2)
        answer = b""
        for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 30:  # 12 s at this pace
            sock.sendall(bytes([byte]))
            try:
                answer = sock.recv(65536)  # waits 0.2 s for the server's answer
                break
            except TimeoutError:
                continue
        assert "headers did not arrive within 1 s" in _json_error(answer + _answer(sock), 408)
    assert time.monotonic() - start < 5


def test_a_body_that_stalls_is_answered_408_and_closed(quick_timeout_url):
    start = time.monotonic()
    with socket.create_connection((quick_timeout_url.hostname, quick_timeout_url.port)) as sock:
        sock.sendall(b"POST /api/cartoonize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n"
                     + encode(photo(8, 8))[:10])
        assert "the upload stalled: no data for 1 s" in _json_error(_answer(sock), 408)
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("sent, status, message", [
    (b"NOT HTTP AT ALL\r\n\r\n", 400, "malformed HTTP request"),
    (b"POST /api/cartoonize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ten\r\n\r\n", 400,
     "malformed HTTP request"),
    # h11 measures what it holds unparsed: headers still incomplete past 16 KB
    (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20_000, 431, "request headers over 16 KB"),
])
def test_uvicorns_own_refusals_are_json(quick_timeout_url, sent, status, message):
    with socket.create_connection((quick_timeout_url.hostname, quick_timeout_url.port)) as sock:
        sock.sendall(sent)
        assert message in _json_error(_answer(sock), status)


@pytest.mark.parametrize("header_bytes", [17_000, 40_000, 100_000])
def test_a_complete_head_over_16_kb_is_answered_431(quick_timeout_url, header_bytes):
    """h11 measures only a head still incomplete: one that arrives whole was answered 200 at
    any size. Sent in one write, then with a body, then a 17 KB one on a kept-alive connection."""
    big = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * header_bytes + b"\r\n\r\n"
    with socket.create_connection((quick_timeout_url.hostname, quick_timeout_url.port)) as sock:
        sock.sendall(big)
        assert "request headers over 16 KB" in _json_error(_answer(sock), 431)
    post = big.replace(b"GET /healthz", b"POST /api/cartoonize").replace(b"\r\n\r\n", b"\r\nContent-Length: 10\r\n\r\n")
    with socket.create_connection((quick_timeout_url.hostname, quick_timeout_url.port)) as sock:
        sock.sendall(post + b"0123456789")
        assert "request headers over 16 KB" in _json_error(_answer(sock), 431)


def test_a_kept_alive_connections_second_head_is_measured_too(quick_timeout_url):
    small = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    big = small.replace(b"\r\n\r\n", b"\r\nX-Big: " + b"a" * 17_000 + b"\r\n\r\n")
    with socket.create_connection((quick_timeout_url.hostname, quick_timeout_url.port)) as sock:
        sock.sendall(small + big)  # pipelined: the second head waits in h11's buffer
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 431" in answer


def test_a_head_just_under_16_kb_is_served(quick_timeout_url):
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Big: "
    head += b"a" * (16 * 1024 - len(head) - 4) + b"\r\n\r\n"
    assert len(head) == 16 * 1024
    with socket.create_connection((quick_timeout_url.hostname, quick_timeout_url.port)) as sock:
        sock.sendall(head)
        assert _answer(sock).startswith(b"HTTP/1.1 200")


def test_a_keep_alive_connection_serves_a_second_request_after_the_first(quick_timeout_url):
    """The header deadline is per request: a quick second request on the same connection
    is answered, not cut by the first request's timer."""
    with socket.create_connection((quick_timeout_url.hostname, quick_timeout_url.port), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(1)
            assert head.startswith(b"HTTP/1.1 200"), head
            length = int(re.search(rb"content-length: (\d+)", head.lower())[1])
            body = b""
            while len(body) < length:
                body += sock.recv(length - len(body))
            assert json.loads(body)["status"] == "ok"
            time.sleep(0.7)  # under the 1 s deadline each time, over it in all


def test_a_body_that_trickles_in_is_answered_408_and_closed(quick_timeout_url):
    """A byte every 0.3 s never stalls for the 1 s read timeout, yet 1000 bytes would take
    5 minutes: the body gets the timeout plus 1 s per 16 KB."""
    start = time.monotonic()
    with socket.create_connection((quick_timeout_url.hostname, quick_timeout_url.port)) as sock:
        sock.sendall(b"POST /api/cartoonize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n")
        sock.settimeout(0.3)
        answer = b""
        try:
            for byte in encode(photo(8, 8))[:30]:
                sock.sendall(bytes([byte]))
                try:
                    answer += sock.recv(65536)
                except TimeoutError:
                    continue
                break
        except OSError:  # closed under us
            pass
        answer += _answer(sock)
        assert "the upload is too slow" in _json_error(answer, 408)
    assert time.monotonic() - start < 5
