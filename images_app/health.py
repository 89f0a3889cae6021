"""``/healthz``: is this process able to take an upload? The database and the storage, probed.

    GET /healthz HTTP/1.1

    200 {"status": "ok", "checks": {"database": {"ok": true, "ms": 0.4},
                                    "storage": {"ok": true, "ms": 6.1}}}
    503 {"error": {"fields": {"storage": ["Storage probe failed."]},
                   "description": "Unhealthy: storage.", "key": "common.service_unavailable"}}

The storage probe writes a tiny object under ``<KEY_PREFIX>/healthz/`` and deletes it again: it
proves what an upload needs (write and delete rights), which a read-only ``exists()`` would not.
"""

from __future__ import annotations

import logging
import secrets
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


def check_storage() -> None:
    """Write a probe object and delete it; raise if either fails."""
    storage = get_storage()
    key = f"{app_settings.KEY_PREFIX}/healthz/{secrets.token_urlsafe(12)}.txt"
    write(storage, key, b"ok", "text/plain")
    if delete(storage, [key]):
        raise OSError(f"Could not delete the probe object {key}.")


CHECKS: dict[str, Callable[[], None]] = {"database": check_database, "storage": check_storage}
MESSAGES = {"database": "Database query failed.", "storage": "Storage probe failed."}


def healthz(request: HttpRequest) -> HttpResponse:
    """200 with each check's timing when every check passes, else 503 with the envelope."""
    results, failed = {}, {}
    for name, check in CHECKS.items():
        start = time.perf_counter()
        try:
            check()
        except Exception:
            logger.exception("images_app: health check %s failed", name, extra={"check": name})
            failed[name] = [MESSAGES[name]]
        results[name] = {"ok": name not in failed, "ms": round(_ms_since(start), 1)}
    if failed:
        body = ServiceUnavailable.envelope(f"Unhealthy: {', '.join(failed)}.", failed)
        return _no_store(JsonResponse(body, status=503))
    return _no_store(JsonResponse({"status": "ok", "checks": results}))


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


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
            return healthz(request)
        return self.get_response(request)
