"""A bounded load test over loopback: 32 clients x 4 requests against a server that
admits 1 running + 4 waiting. Every answer is the right image or a clean 503 with
Retry-After; afterwards the queue is empty and the server answers again."""

import json

import numpy as np

from cartoongan.images import psnr
from cartoongan.serve.app import Limits, create_app
from tests.serve.conftest import decode, encode, live_server, photo
from tests.serve.loadgen import request, run_load, summarize

CLIENTS, REQUESTS_EACH = 32, 4


def test_under_load_every_answer_is_correct_or_a_clean_503(lite_cartoonizer):
    image = photo(61, 47, seed=3)
    expected = lite_cartoonizer(np.asarray(image))
    app = create_app({"hayao_lite": lite_cartoonizer}, limits=Limits(workers=1, queue_size=4))
    with live_server(app) as url:
        answers, wall = run_load(f"{url}/api/cartoonize?style=hayao_lite", encode(image), CLIENTS, REQUESTS_EACH,
                                 timeout=60)
        assert len(answers) == CLIENTS * REQUESTS_EACH
        for status, headers, body, _ in answers:
            if status == 200:
                assert psnr(decode(body), expected) >= 50
            else:
                assert status == 503, (status, body[:200])
                assert int(headers["retry-after"]) >= 1 and "queue full" in json.loads(body)["error"]
        summary = summarize(answers, wall)
        print(f"\nload {CLIENTS} clients x {REQUESTS_EACH} requests, 61x47 px, hayao_lite, 1 worker + 4 waiting: "
              f"{json.dumps(summary)}")
        assert summary["statuses"].get("200", 0) >= 5 and summary["statuses"].get("503", 0) > 0
        # Recovery: nothing is left queued, and the next request is served.
        health = json.loads(request(f"{url}/healthz")[2])
        assert health["queue"]["running"] == 0 and health["queue"]["waiting"] == 0
        status, _, body, _ = request(f"{url}/api/cartoonize?style=hayao_lite", "POST", encode(image))
        assert status == 200 and psnr(decode(body), expected) >= 50
