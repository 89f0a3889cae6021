"""Slow senders against ``make serve``'s front (nginx buffering requests in front of gunicorn),
and against uvicorn (``make serve-asgi``), which reads requests asynchronously itself.

Sixteen connections trickle bytes: eight send their headers and then a body at ten bytes a
second, eight never finish their headers. gunicorn alone (one worker, two threads) hands each to
a thread that blocks reading at the client's pace, and stops answering; with nginx in front they
cost nginx a connection each and gunicorn nothing; uvicorn holds each in a coroutine, and runs
the view only once the request is whole. The test measures uploads and ``/healthz``
on the quiet server first, then again while the slow senders are connected, and asserts every
request still completes within a generous multiple of that baseline (no fixed wall-clock limit:
the machine's speed cancels out). The slow senders stop after ``ATTACK_SECONDS``.
"""

import socket
import statistics
import threading
import time
from dataclasses import dataclass

import pytest
import requests

from . import images
from .live import Site

pytestmark = pytest.mark.live

SENDERS = 16
ATTACK_SECONDS = 20
ROUNDS = 4


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    return Site.create(tmp_path_factory.mktemp("slow"))


@dataclass
class SlowSender:
    """One connection trickling a request; ``cut`` is when the server closed it, if it did."""

    base: str
    token: str | None
    with_body: bool
    cut: float | None = None

    def run(self, until: float) -> None:
        host, port = self.base.removeprefix("http://").split(":")
        head = "POST /api/images/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if self.with_body:
            head += (
                f"Authorization: Bearer {self.token}\r\nContent-Length: 1000000\r\n"
                "Content-Type: multipart/form-data; boundary=slow\r\n\r\n--slow\r\n"
            )
        try:
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                sock.sendall(head.encode())
                while time.monotonic() < until:
                    sock.sendall(b"x" if self.with_body else b"X")  # a header never ended
                    time.sleep(0.1)
        except OSError:
            self.cut = time.monotonic()


def timed(call) -> tuple[float, int]:
    start = time.monotonic()
    status = call()
    return time.monotonic() - start, status


def measure(site: Site, base: str) -> dict[str, list[tuple[float, int]]]:
    photo = images.jpeg(640, 480)

    def upload() -> int:
        files = {"image": ("photo.jpg", photo, "image/jpeg")}
        url = f"{base}/api/images/"
        return requests.post(
            url, files=files, data={"type": "product"}, headers=site.auth, timeout=120
        ).status_code

    def healthz() -> int:
        return requests.get(f"{base}/healthz", timeout=120).status_code

    results: dict[str, list[tuple[float, int]]] = {"upload": [], "healthz": []}
    for _ in range(ROUNDS):
        results["upload"].append(timed(upload))
        results["healthz"].append(timed(healthz))
    return results


@pytest.mark.parametrize("kind", ["front", "uvicorn"])
def test_sixteen_slow_senders_do_not_slow_uploads_or_healthz(site, kind):
    with site.serve(kind, GUNICORN_THREADS="2", NGINX_WORKERS="1") as base:
        measure(site, base)  # warm-up: the worker's first upload loads the codecs
        baseline = measure(site, base)
        until = time.monotonic() + ATTACK_SECONDS
        senders = [SlowSender(base, site.token, with_body=n % 2 == 0) for n in range(SENDERS)]
        threads = [threading.Thread(target=s.run, args=(until,), daemon=True) for s in senders]
        for thread in threads:
            thread.start()
        time.sleep(1)  # every slow sender connected and trickling
        under_attack = measure(site, base)
        measured_until = time.monotonic()
        for thread in threads:
            thread.join(timeout=ATTACK_SECONDS + 30)

    # Otherwise the requests only got through once the slow senders gave up (bare gunicorn).
    assert measured_until < until, "uploads and /healthz waited for the slow senders"
    alive = [s for s in senders if s.cut is None or s.cut > measured_until]
    assert len(alive) == SENDERS  # the pressure was there for the whole measurement
    for name, quiet in baseline.items():
        assert [status for _, status in under_attack[name]] == [200] * ROUNDS, name
        typical = statistics.median(seconds for seconds, _ in quiet)
        slowest = max(seconds for seconds, _ in under_attack[name])
        assert slowest < 5 * typical + 2.0, (name, typical, under_attack[name])
