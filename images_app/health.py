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
  ``HEALTHZ_STORAGE_SECONDS`` per process; requests in between get the last result.
"""

from __future__ import annotations

import logging
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

    One thread probes while the others read the last outcome, so a burst of requests costs one
    storage round trip, not one each. Another storage (settings changed) is probed afresh.
    """

    def __init__(self, probe: Callable[[], None]):
        self.probe = probe
        self.lock = threading.Lock()
        self.checked: tuple[object, float] | None = None  # (storage, when)
        self.error: Exception | None = None
        self.runs = 0  # probes actually made (tests count them)

    def __call__(self) -> None:
        if self._stale() and self.lock.acquire(blocking=self.checked is None):
            try:
                if self._stale():
                    self._run()
            finally:
                self.lock.release()
        if self.error is not None:
            raise self.error

    def _stale(self) -> bool:
        if self.checked is None:
            return True
        storage, when = self.checked
        age = time.monotonic() - when
        return storage is not get_storage() or age >= app_settings.HEALTHZ_STORAGE_SECONDS

    def _run(self) -> None:
        self.runs += 1
        storage = get_storage()
        try:
            self.probe()
            self.error = None
        except Exception as exc:
            self.error = exc
        self.checked = (storage, time.monotonic())


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
