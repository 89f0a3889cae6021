"""``/healthz``: is this process able to take an upload? Cheap enough to answer anyone.

    GET /healthz HTTP/1.1

    200 {"status": "ok"}
    503 {"error": {"fields": {"storage": ["Storage probe failed."]},
                   "description": "Unhealthy: storage.", "key": "common.service_unavailable"}}

A load balancer needs the status code and nothing else, so that is all it gets: no timings, no
versions, no error text (failures are logged). The path takes no token, so it must not cost
more than a request is worth:

- the database: one ``SELECT 1`` per request (a round trip on an open connection);
- the storage: a probe object written and deleted again, which proves what an upload needs
  (write and delete rights, where a read-only ``exists()`` would not), at most once per
  ``HEALTHZ_STORAGE_SECONDS`` per process; requests in between get the last result. A request
  waits for a running probe at most ``HEALTHZ_STORAGE_TIMEOUT`` seconds from its start.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable

from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse

from .conf import app_settings
from .exceptions import ServiceUnavailable
from .storage import delete, get_storage, write

logger = logging.getLogger(__name__)


def check_database() -> None:
    """A round trip on every configured database."""
    for connection in connections.all():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()


def probe_storage() -> None:
    """Write a probe object and delete it; raise if either fails."""
    storage = get_storage()
    key = f"{app_settings.KEY_PREFIX}/healthz/{secrets.token_urlsafe(12)}.txt"
    write(storage, key, b"ok", "text/plain")
    if delete(storage, [key]):
        raise OSError(f"Could not delete the probe object {key}.")


class CachedProbe:
    """Runs ``probe`` at most once per ``HEALTHZ_STORAGE_SECONDS``; in between, the last outcome.

    The probe runs on a thread of its own, long-lived so it keeps its storage connection (not on
    the writer threads: uploads queued there would make a healthy storage look slow), one probe
    at a time, and a burst of requests costs one storage round trip, not one each. A request
    waits for a running probe until ``HEALTHZ_STORAGE_TIMEOUT`` seconds after it started, then
    counts the storage as failing: a storage that accepts connections and never answers would
    otherwise hold each health check for as long as the S3 client's timeouts and retries take
    (40 s and more), and hold every thread of a fresh worker with it, requests that need no
    storage queued behind them. The probe goes on, and its outcome serves the requests after it.
    Another storage (settings changed) is probed afresh.
    """

    def __init__(self, probe: Callable[[], None]):
        self.probe = probe
        self.lock = threading.Lock()
        self.checked: tuple[object, float] | None = None  # (storage, when) of the last outcome
        self.error: Exception | None = None
        self.running: tuple[threading.Event, float] | None = None  # (finished, started)
        self.runs = 0  # probes actually made (tests count them)
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.thread: threading.Thread | None = None

    def __call__(self) -> None:
        with self.lock:
            if self.running is None and self._stale():
                self.running = (threading.Event(), time.monotonic())
                self._submit(self.running[0], get_storage())
            running = self.running
        if running is not None:
            finished, started = running
            timeout = app_settings.HEALTHZ_STORAGE_TIMEOUT
            if not finished.wait(max(started + timeout - time.monotonic(), 0)):
                raise TimeoutError(f"The storage probe has not finished in {timeout:g} s.")
        if self.error is not None:
            raise self.error

    def _stale(self) -> bool:
        if self.checked is None:
            return True
        storage, when = self.checked
        age = time.monotonic() - when
        return storage is not get_storage() or age >= app_settings.HEALTHZ_STORAGE_SECONDS

    def _submit(self, finished: threading.Event, storage) -> None:
        """To the probe's thread: a daemon, so a probe stuck on a silent storage never holds
        up the process's exit; started again in a forked worker, where it is not alive."""
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._serve, name="images-healthz", daemon=True)
            self.thread.start()
        self.jobs.put((finished, storage))

    def _serve(self) -> None:
        while True:
            self._run(*self.jobs.get())

    def _run(self, finished: threading.Event, storage) -> None:
        self.runs += 1
        try:
            self.probe()
            error = None
        except Exception as exc:
            error = exc
        with self.lock:
            self.error, self.checked, self.running = error, (storage, time.monotonic()), None
        finished.set()


check_storage = CachedProbe(probe_storage)

CHECKS: dict[str, Callable[[], None]] = {"database": check_database, "storage": check_storage}
MESSAGES = {"database": "Database query failed.", "storage": "Storage probe failed."}


def healthz(request: HttpRequest) -> HttpResponse:
    """200 ``{"status": "ok"}`` when every check passes, else 503 with the envelope."""
    failed = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:
            logger.error("images_app: health check %s failed: %r", name, exc, extra={"check": name})
            failed[name] = [MESSAGES[name]]
    if failed:
        body = ServiceUnavailable.envelope(f"Unhealthy: {', '.join(failed)}.", failed)
        return _no_store(JsonResponse(body, status=503))
    return _no_store(JsonResponse({"status": "ok"}))


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


class HealthCheckMiddleware:
    """Answers ``path`` before any other middleware runs.

    Load balancers probe each machine by its address, so the probe must not depend on
    ALLOWED_HOSTS, the HTTPS redirect or sessions. Put it first in MIDDLEWARE.
    """

    path = "/healthz"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.rstrip("/") == self.path and request.method in ("GET", "HEAD"):
            response = healthz(request)
            if request.method == "HEAD":
                # The headers of GET, no body: servers warn about (and drop) a HEAD body.
                response.content = b""
            return response
        return self.get_response(request)
