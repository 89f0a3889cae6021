"""Structured logs: one JSON object a line, for every upload and every error the API answers.

    LOGGING = {..., "formatters": {"json": {"()": "images_app.logging.JsonFormatter"}}, ...}
    MIDDLEWARE = [..., "images_app.logging.ApiLogMiddleware", ...]

The middleware times the whole request; code on the way marks its phases with ``phase()``
(``with phase("render"): ...``), and each phase shows up in the line as ``<name>_ms``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse

from .conf import app_settings

logger = logging.getLogger("images_app.api")

_phases: ContextVar[dict[str, float] | None] = ContextVar("images_app_phases", default=None)

# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra fields, "exc"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Add the time spent in the block to the current request's ``<name>_ms`` (if logged)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings = _phases.get()
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + (time.perf_counter() - start) * 1000


class ApiLogMiddleware:
    """Logs each upload (INFO) and each error answer (WARNING for 4xx, ERROR for 5xx) on API paths.

    Put it before ``ApiErrorEnvelopeMiddleware`` so that it sees the answer the client gets.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(tuple(app_settings.API_PATH_PREFIXES)):
            return self.get_response(request)
        timings: dict[str, float] = {}
        token = _phases.set(timings)
        start = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            _phases.reset(token)
        timings["total"] = (time.perf_counter() - start) * 1000
        log_response(request, response, timings)
        return response


def log_response(request: HttpRequest, response: HttpResponse, timings: dict[str, float]) -> None:
    """One line for an upload or an error answer; nothing for other successful requests."""
    status = response.status_code
    upload = request.method == "POST" and status < 300
    if not upload and status < 400:
        return
    entry = {
        "event": "upload" if upload else "error",
        "method": request.method,
        "path": request.path,
        "status": status,
        "owner": getattr(getattr(request, "user", None), "pk", None),
        "version": _version(request, response),
        "request_bytes": _request_bytes(request),
        **{f"{name}_ms": round(ms, 1) for name, ms in timings.items()},
    }
    body = _body(response)
    if upload:
        entry["id"] = abs(body["id"]) if isinstance(body.get("id"), int) else None
        message = f"upload {entry['id']} by owner {entry['owner']} in {entry['total_ms']} ms"
        logger.info(message, extra=entry)
        return
    entry["key"] = (body.get("error") or {}).get("key") if isinstance(body, dict) else None
    message = f"{status} {entry['key']} on {request.method} {request.path}"
    logger.log(logging.ERROR if status >= 500 else logging.WARNING, message, extra=entry)


def _request_bytes(request: HttpRequest) -> int | None:
    """The body's declared length; None where it is missing or not a number (a client error)."""
    declared = str(request.META.get("CONTENT_LENGTH") or "0").strip()
    return int(declared) if declared.isdigit() and len(declared) <= 18 else None


def _version(request: HttpRequest, response: HttpResponse) -> int | str | None:
    """The version DRF determined; else the raw header (it may be what was wrong)."""
    drf_request = (getattr(response, "renderer_context", None) or {}).get("request")
    version = getattr(drf_request, "version", None)
    return version if version is not None else request.META.get("HTTP_X_API_VERSION")


def _body(response: HttpResponse) -> dict:
    data = getattr(response, "data", None)
    if isinstance(data, dict):
        return data
    if response.get("Content-Type", "").startswith("application/json") and not response.streaming:
        try:
            parsed = json.loads(response.content)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}
