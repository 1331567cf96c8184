"""The HTTP API in-process (Starlette's TestClient): answers, errors, limits, the page."""

import asyncio
import io
import re
import threading
import time

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from cartoongan.images import resize_to_max
from cartoongan.presets import read_preset_config, resolve_preset
from cartoongan.serve.app import STATIC_DIR, Limits, create_app, style_catalogue
from tests.serve.conftest import Gate, decode, encode, photo
from tests.serve.test_uploads import png_header_only


@pytest.fixture(scope="module")
def client(tiny_cartoonizer, lite_cartoonizer, tiny_preset):
    served = {"hayao_lite": lite_cartoonizer, "tiny": tiny_cartoonizer}
    catalogue = style_catalogue({"hayao_lite": read_preset_config(resolve_preset("hayao_lite")),
                                 "tiny": read_preset_config(tiny_preset)})
    app = create_app(served, catalogue=catalogue, default_style="tiny",
                     limits=Limits(max_upload_bytes=200_000, max_pixels=300_000))
    with TestClient(app) as client:
        yield client


def test_styles_lists_every_style_with_licence_and_what_is_served(client):
    body = client.get("/api/styles").json()
    assert body["default"] == "tiny"
    styles = {style["name"]: style for style in body["styles"]}
    assert {"hayao", "hayao_lite", "hosoda", "paprika", "shinkai", "tiny"} <= set(styles)
    for style in styles.values():
        assert set(style) == {"name", "description", "license", "cached", "served", "details"}
        assert style["description"] and style["license"]
    assert styles["hayao_lite"]["served"] and styles["hayao_lite"]["cached"]
    assert not styles["hayao"]["served"] and styles["hayao"]["cached"]  # shipped in pretrained/
    assert "research use" in styles["shinkai"]["license"]


@pytest.mark.parametrize("width, height", [(67, 45), (33, 71), (5, 3)])
def test_png_result_is_the_cartoonizers_output_at_the_input_size(client, lite_cartoonizer, width, height):
    image = photo(width, height, seed=width)
    answer = client.post("/api/cartoonize?style=hayao_lite", content=encode(image, "PNG"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"
    result = decode(answer.content)
    assert result.shape == (height, width, 3)
    np.testing.assert_array_equal(result, lite_cartoonizer(np.asarray(image)))


def test_default_style_and_max_size(client, tiny_cartoonizer):
    image = photo(120, 80)
    answer = client.post("/api/cartoonize?max_size=60", content=encode(image))
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-style"] == "tiny"
    expected = tiny_cartoonizer(resize_to_max(np.asarray(image), 60)[0])
    np.testing.assert_array_equal(decode(answer.content), expected)


def test_format_jpg_answers_a_jpeg_of_the_input_size(client):
    answer = client.post("/api/cartoonize?style=tiny&format=jpg", content=encode(photo(31, 17)))
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    assert decode(answer.content).shape == (17, 31, 3)


def test_alpha_is_kept_in_png(client):
    image = photo(20, 10, mode="RGBA")
    image.putalpha(128)
    answer = client.post("/api/cartoonize?style=tiny", content=encode(image, "PNG"))
    result = Image.open(io.BytesIO(answer.content))
    assert result.mode == "RGBA" and np.all(np.asarray(result)[..., 3] == 128)


@pytest.mark.parametrize("body, query, status, message", [
    (b"", "style=tiny", 400, "empty body"),
    (b"definitely not an image", "style=tiny", 400, "not an image"),
    (None, "style=tiny&format=gif", 400, "format must be png or jpg"),
    (None, "style=tiny&max_size=-3", 400, "max_size must be"),
    (None, "style=tiny&max_size=big", 400, "max_size must be"),
    (None, "style=nope", 404, "'nope' is unknown; served styles: hayao_lite, tiny"),
    (None, "style=shinkai", 404, "'shinkai' is not served here"),
    (None, "style=../../etc/passwd", 404, "is unknown"),
    (png_header_only(1000, 1000), "style=tiny", 413, "1.0 megapixels; the limit is 0.3"),
    (b"x" * 200_001, "style=tiny", 413, "upload is 200,001 bytes; the server's upload limit is 200,000 bytes"),
    (None, "style=tiny&strenght=0.5", 400,
     "unknown query field 'strenght'; the known ones are style, format, max_size, job, style_size, strength, "
     "keep_colors, portrait, face_style"),
    (None, "style=tiny&strength=0.5&strength=1", 400, "query field 'strength' is given 2 times"),
    (None, "style=tiny&strength=1_0", 400, "strength cannot be '1_0'"),
    (None, "style=tiny&strength=%EF%BC%90.%EF%BC%95", 400, "strength cannot be '０.５'"),  # full-width 0.5
    (None, "style=tiny&style_size=%EF%BC%95%EF%BC%91%EF%BC%92", 400, "style_size cannot be '５１２'"),
    (None, "style=tiny&max_size=1_000", 400, "max_size must be a whole number"),
    (None, "style=tiny&max_size=%EF%BC%96%EF%BC%90", 400, "max_size must be a whole number"),
])
def test_errors_are_json_with_the_right_status(client, body, query, status, message):
    body = encode(photo(16, 16)) if body is None else body
    answer = client.post(f"/api/cartoonize?{query}", content=body)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    assert message in answer.json()["error"]


def test_a_truncated_image_is_400(client):
    data = encode(photo(64, 64), "JPEG")
    answer = client.post("/api/cartoonize?style=tiny", content=data[: len(data) * 2 // 3])  # header intact
    assert answer.status_code == 400 and "not a readable image" in answer.json()["error"]


def test_a_body_without_content_length_is_cut_at_the_limit(client):
    def chunks():
        for _ in range(100):
            yield b"x" * 10_000  # 1 MB in all, announced by no header

    answer = client.post("/api/cartoonize?style=tiny", content=chunks())
    assert answer.status_code == 413 and "upload is over 200,000 bytes" in answer.json()["error"]


def test_an_upload_just_over_the_limit_says_both_sizes_exactly():
    """21,000,000 bytes against the default 20 MB: both round to 20.0 MB, so the bytes are said."""
    with TestClient(create_app({"inverse": lambda rgb: 255 - rgb})) as client:
        answer = client.post("/api/cartoonize", content=b"x" * 21_000_000)
    assert answer.status_code == 413
    assert answer.json()["error"] == ("upload is 21,000,000 bytes; the server's upload limit is 20,971,520 bytes "
                                      "(20 MB)")


def test_progress_refuses_an_unknown_query_field_by_name(client):
    answer = client.get("/api/progress?jobb=abcdefgh")
    assert answer.status_code == 400 and "unknown query field 'jobb'" in answer.json()["error"]


def test_unknown_routes_and_methods_answer_json(client):
    assert client.get("/api/nothing").json() == {"error": "Not Found"}
    assert client.get("/api/cartoonize").status_code == 405
    assert client.get("/static/../app.py").status_code == 404


def test_healthz_lists_the_served_styles_and_the_queue(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["styles"] == ["hayao_lite", "tiny"]
    assert body["queue"]["workers"] == 1 and body["queue"]["queue_size"] == 8


def test_page_has_the_controls_and_only_local_assets(client):
    answer = client.get("/")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    html = answer.text
    for element in ('<input type="file" id="photo"', '<select id="style"', 'id="go"', '<img id="result"',
                    'id="slider"', 'id="download"', 'id="progress"', 'id="error"'):
        assert element in html
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    for name in ("index.html", "app.js", "style.css", "icon.svg"):
        text = (STATIC_DIR / name).read_text()
        assert not re.search(r"(https?:)?//[a-z0-9]", text.replace("http://www.w3.org/2000/svg", "")), name
    for asset in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert asset.startswith("/static/"), asset
        assert client.get(asset).status_code == 200


def test_503_with_retry_after_when_the_queue_is_full_then_recovery(tiny_cartoonizer):
    gate = Gate(tiny_cartoonizer)
    app = create_app({"gate": gate}, limits=Limits(workers=1, queue_size=1))
    body = encode(photo(16, 16))
    with TestClient(app) as client:
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(client.post("/api/cartoonize", content=body)))
                   for _ in range(2)]
        threads[0].start()
        assert gate.started.acquire(timeout=10)  # one running
        threads[1].start()
        _wait_for(lambda: client.get("/healthz").json()["queue"]["waiting"] == 1)
        busy = client.post("/api/cartoonize", content=body)
        assert busy.status_code == 503 and "queue full" in busy.json()["error"]
        assert int(busy.headers["retry-after"]) >= 1
        gate.release.set()
        for thread in threads:
            thread.join(30)
        assert [a.status_code for a in answers] == [200, 200]
        assert client.post("/api/cartoonize", content=body).status_code == 200


def test_a_client_that_disconnects_while_queued_frees_its_slot(tiny_cartoonizer):
    """ASGI-level: the second request's client disconnects while it waits; its job never
    runs and the queue is empty again as soon as the first one ends."""
    gate = Gate(tiny_cartoonizer)
    app = create_app({"gate": gate}, limits=Limits(workers=1, queue_size=1))
    body = encode(photo(16, 16))

    async def call(disconnect):
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent = []

        async def receive():
            if messages:
                return messages.pop(0)
            await disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/api/cartoonize", "raw_path": b"/api/cartoonize",
                 "query_string": b"", "headers": [(b"content-length", str(len(body)).encode())],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "root_path": ""}
        await app(scope, receive, send)
        return sent[0]["status"] if sent else None

    async def scenario():
        first_gone, second_gone = asyncio.Event(), asyncio.Event()
        first = asyncio.ensure_future(call(first_gone))
        while gate.calls == 0:
            await asyncio.sleep(0.01)
        second = asyncio.ensure_future(call(second_gone))
        while app.state.queue.stats()["waiting"] == 0:
            await asyncio.sleep(0.01)
        second_gone.set()  # the waiting client leaves
        await asyncio.wait_for(second, 10)
        assert app.state.queue.stats()["waiting"] == 0
        gate.release.set()
        assert await asyncio.wait_for(first, 30) == 200
        assert gate.calls == 1  # the cancelled job never ran
        assert app.state.queue.stats() == {**app.state.queue.stats(), "running": 0, "waiting": 0}

    asyncio.run(scenario())
    app.state.queue.shutdown()


def _wait_for(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/", None), ("GET", "/static/index.html", None), ("GET", "/static/app.js", None),
    ("GET", "/api/styles", None), ("GET", "/healthz", None), ("GET", "/nothing", None), ("GET", "/api/cartoonize", None),
    ("POST", "/api/cartoonize?style=tiny", b"junk"), ("POST", "/api/cartoonize?style=nope", b"junk"),
])
def test_every_answer_says_nosniff_and_every_page_carries_the_policy(client, method, path, body):
    answer = client.request(method, path, content=body)
    assert answer.headers["x-content-type-options"] == "nosniff"
    html = answer.headers["content-type"].startswith("text/html")
    assert html == (path in ("/", "/static/index.html"))
    if html:  # the same page by either path: framed by nobody, scripts from here only
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-frame-options"] == "DENY"
        assert len(answer.headers.get_list("content-security-policy")) == 1


def test_an_image_answer_says_nosniff(client):
    answer = client.post("/api/cartoonize?style=tiny", content=encode(photo(8, 8)))
    assert answer.status_code == 200 and answer.headers["x-content-type-options"] == "nosniff"


def test_a_multipart_form_upload_is_refused_with_the_way_to_send_it(client):
    """curl -F photo=@x.jpg: the body is a form, not the file; say what to send instead."""
    answer = client.post("/api/cartoonize?style=tiny", files={"photo": ("x.png", encode(photo(8, 8)), "image/png")})
    assert answer.status_code == 400
    assert "multipart form" in answer.json()["error"] and "--data-binary @photo.jpg" in answer.json()["error"]


def test_a_form_encoded_upload_that_is_unreadable_says_to_use_data_binary(client):
    """curl -d @x.jpg strips the file's newlines (and sends it as a form): the hint is given."""
    from tests.serve.test_uploads import noisy_jpeg

    data = noisy_jpeg()
    assert data.count(b"\n") + data.count(b"\r") > 0
    answer = client.post("/api/cartoonize?style=tiny", content=data.replace(b"\n", b"").replace(b"\r", b""),
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400 and "--data-binary @FILE" in answer.json()["error"]


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "image/jpeg"])
def test_a_corrupt_file_sent_right_gets_no_curl_hint(client, content_type):
    """curl --data-binary also says application/x-www-form-urlencoded: a file that kept its
    newlines was sent right, and the hint would mislead."""
    from tests.serve.test_uploads import noisy_jpeg

    data = noisy_jpeg()
    corrupt = data[:len(data) // 2] + bytes(len(data) - len(data) // 2)
    answer = client.post("/api/cartoonize?style=tiny", content=corrupt, headers={"content-type": content_type})
    assert answer.status_code == 400 and "not a readable image" in answer.json()["error"], answer.text
    assert "curl" not in answer.json()["error"]


def test_a_multipart_body_sent_as_an_image_gets_the_multipart_hint(client):
    """curl -F with -H 'Content-Type: image/png': the header hides the form, the body shows it."""
    body = (b"--xyz\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"x.png\"\r\n"
            b"Content-Type: image/png\r\n\r\n" + encode(photo(8, 8)) + b"\r\n--xyz--\r\n")
    answer = client.post("/api/cartoonize?style=tiny", content=body, headers={"content-type": "image/png"})
    assert answer.status_code == 400 and "not a multipart form (curl -F)" in answer.json()["error"]


def test_an_unexpected_error_outside_the_routes_is_json(tiny_cartoonizer):
    app = create_app({"tiny": tiny_cartoonizer})
    app.state.queue.stats = lambda: 1 / 0  # /healthz fails
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/healthz")
    assert answer.status_code == 500 and answer.json() == {"error": "internal server error"}
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_damaged_webp_that_decodes_without_an_error_is_400(client):
    """30 bytes overwritten in the middle of a lossy WebP: Pillow decodes it (garbage from there on)."""
    from tests.test_image_decoding import _overwritten, _webp_bytes

    data = _webp_bytes(quality=80)
    answer = client.post("/api/cartoonize?style=tiny", content=_overwritten(data, len(data) // 2, seed=1))
    assert answer.status_code == 400 and "corrupt WebP" in answer.json()["error"]
    assert "curl" not in answer.json()["error"]


def test_a_corrupt_jpeg_is_400_json(client):
    from tests.serve.test_uploads import forged_jpeg_size, noisy_jpeg

    answer = client.post("/api/cartoonize?style=tiny", content=forged_jpeg_size(noisy_jpeg(), 400, 400))
    assert answer.status_code == 400 and "Corrupt JPEG data" in answer.json()["error"]


def test_a_forged_jpeg_is_refused_at_once_even_when_every_worker_is_busy(tiny_cartoonizer):
    """An 11 kB upload claiming 3000x3000 is answered from its header: it never waits for
    (or takes) the worker. It held the only worker for 36 s."""
    from tests.serve.test_uploads import forged_jpeg_size, noisy_jpeg

    gate = Gate(tiny_cartoonizer)
    app = create_app({"gate": gate}, limits=Limits(workers=1, queue_size=0))
    forged = forged_jpeg_size(noisy_jpeg(), 3000, 3000)
    forged += b"\0" * (11_000 - len(forged))
    with TestClient(app) as client:
        busy = threading.Thread(target=client.post, args=("/api/cartoonize",), kwargs={"content": encode(photo(8, 8))})
        busy.start()
        try:
            assert gate.started.acquire(timeout=10)
            start = time.perf_counter()
            answer = client.post("/api/cartoonize", content=forged)
            assert answer.status_code == 400 and "corrupt JPEG" in answer.json()["error"]
            assert time.perf_counter() - start < 1
        finally:
            gate.release.set()
            busy.join(30)
    assert gate.calls == 1


class Passes:
    """A tiled run's stand-in: reports 4 of 12 tiles done, in pass 1 of 3, through the
    progress callback (the Cartoonizer's signature), then waits for the test to release it."""

    def __init__(self):
        self.reported = threading.Event()
        self.release = threading.Event()

    def __call__(self, rgb, progress=None):
        progress(4, 12, 1, 3)
        self.reported.set()
        assert self.release.wait(30), "the test never released the job"
        progress(12, 12, 3, 3)
        return 255 - rgb


def test_progress_says_which_pass_a_request_in_flight_is_at():
    passes = Passes()
    app = create_app({"passes": passes, "plain": lambda rgb: 255 - rgb}, limits=Limits(workers=1, queue_size=2))
    body = encode(photo(16, 16))
    with TestClient(app) as client:
        answers = {}

        def send(name, query):
            answers[name] = client.post(f"/api/cartoonize?{query}", content=body)

        first = threading.Thread(target=send, args=("first", "style=passes&job=first-job"))
        first.start()
        try:
            assert passes.reported.wait(10)
            assert client.get("/api/progress?job=first-job").json() == {"state": "running", "pass": 1, "passes": 3,
                                                                        "tiles_done": 4, "tiles": 12}
            second = threading.Thread(target=send, args=("second", "style=plain&job=second-job"))
            second.start()
            _wait_for(lambda: client.get("/api/progress?job=second-job").status_code == 200)
            assert client.get("/api/progress?job=second-job").json() == {"state": "waiting", "pass": 0, "passes": 0,
                                                                         "tiles_done": 0, "tiles": 0}
            busy = client.post("/api/cartoonize?style=plain&job=first-job", content=body)
            assert busy.status_code == 400 and "in use" in busy.json()["error"]
        finally:
            passes.release.set()
            first.join(30)
        second.join(30)
        assert answers["first"].status_code == 200 and answers["second"].status_code == 200
        gone = client.get("/api/progress?job=first-job")  # answered: forgotten
        assert gone.status_code == 404 and "no request in flight" in gone.json()["error"]
        assert client.post("/api/cartoonize?style=plain", content=body).status_code == 200  # no job: no tracking
        for bad in ("short", "x" * 65, "../etc", ""):
            refused = client.post(f"/api/cartoonize?style=plain&job={bad}", content=body)
            assert refused.status_code == 400 and "job must be" in refused.json()["error"]


def test_a_tiled_cartoonizer_reports_its_passes_to_the_jobs_progress(tiny_preset):
    """The contract with the real Cartoonizer: the app hands it JobProgress as its progress
    callback, which ends at every tile of every pass done."""
    from cartoongan.inference import Cartoonizer
    from cartoongan.serve.app import JobProgress, _run_job

    class Recorded(JobProgress):
        def __init__(self):
            super().__init__()
            self.seen = []

        def __call__(self, *counts):
            super().__call__(*counts)
            self.seen.append(counts)

    tiled = Cartoonizer.from_pretrained(str(tiny_preset), precision="float32", tile_size=16)
    progress = Recorded()
    (data, _), _ = _run_job(tiled, encode(photo(48, 40)), 10**6, 0, "png", progress)
    done, total, pass_number, passes = progress.counts
    assert progress.state == "running" and passes > 1 and done == total and pass_number == passes
    assert [seen[0] for seen in progress.seen] == list(range(1, total + 1))
    assert decode(data).shape == (40, 48, 3)
