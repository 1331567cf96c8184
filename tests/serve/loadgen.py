"""A bounded load generator for the web API, loopback only: N clients x M requests each.

    python -m tests.serve.loadgen --url http://127.0.0.1:8000 --photo photo.jpg \\
        --style hayao_lite --clients 32 --requests 4 [--retries 20]

Every client sends its requests one after another on its own connection; the summary has
the count of each status, p50/p95 latency of the answered (200) requests and throughput.
"""

import argparse
import concurrent.futures
import http.client
import ipaddress
import json
import sys
import time
import urllib.parse


def request(url, method="GET", body=None, timeout=120):
    """-> (status, headers dict (lower-case names), body bytes, seconds). Loopback only."""
    parts = urllib.parse.urlsplit(url)
    if not ipaddress.ip_address(parts.hostname).is_loopback:
        raise ValueError(f"{url}: this load generator only talks to loopback addresses")
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    start = time.perf_counter()
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, path, body=body)
        answer = connection.getresponse()
        data = answer.read()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, data, time.perf_counter() - start
    finally:
        connection.close()


def run_load(url, body, clients, requests_each, timeout=120, retries=0):
    """Returns (answers, wall seconds); answers: (status, headers, body, seconds) tuples.

    `retries`: how often a client that gets 503 waits Retry-After (at most 10 s) and sends
    again; the seconds of an answer then run from its first attempt."""
    def one():
        start = time.perf_counter()
        for attempt in range(retries + 1):
            status, headers, data, _ = request(url, "POST", body, timeout)
            if status != 503 or attempt == retries:
                return status, headers, data, time.perf_counter() - start
            time.sleep(min(10, int(headers.get("retry-after", "1"))))

    def client(_):
        return [one() for _ in range(requests_each)]

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        answers = [answer for answers in pool.map(client, range(clients)) for answer in answers]
    return answers, time.perf_counter() - start


def summarize(answers, wall_seconds):
    ok = sorted(seconds for status, _, _, seconds in answers if status == 200)
    statuses = {}
    for status, *_ in answers:
        statuses[str(status)] = statuses.get(str(status), 0) + 1

    def percentile(q):
        return round(ok[min(len(ok) - 1, int(q * len(ok)))], 3) if ok else None

    return {"requests": len(answers), "statuses": statuses, "p50_s": percentile(0.50), "p95_s": percentile(0.95),
            "wall_s": round(wall_seconds, 3), "answered_per_s": round(len(ok) / wall_seconds, 2)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--photo", required=True)
    parser.add_argument("--style", default="hayao_lite")
    parser.add_argument("--max-size", type=int, default=0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=4, help="per client")
    parser.add_argument("--retries", type=int, default=0, help="after a 503, wait Retry-After and resend, N times")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 256 and 1 <= args.requests <= 64 and 0 <= args.retries <= 20):
        parser.error("--clients 1..256, --requests 1..64, --retries 0..20: the load stays bounded")
    with open(args.photo, "rb") as f:
        body = f.read()
    query = urllib.parse.urlencode({"style": args.style, "max_size": args.max_size})
    answers, wall = run_load(f"{args.url.rstrip('/')}/api/cartoonize?{query}", body, args.clients, args.requests,
                             retries=args.retries)
    print(json.dumps(summarize(answers, wall)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
