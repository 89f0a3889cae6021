"""The legacy error envelope, around DRF's own exception handling.

{"error": {"fields": {...}, "description": "...", "key": "common.<code>"}}
"""

import logging

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from .conf import app_settings
from .renderers import dumps
from .storage import StorageFailure

logger = logging.getLogger(__name__)

SERIALIZER_ERROR = "Serialization error"


class InvalidVersion(exceptions.NotAcceptable):
    default_detail = "Unsupported X-Api-Version."
    default_code = "invalid_version"


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the server accepts."
    default_code = "request_too_large"


class StorageUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Image storage is unavailable; nothing was kept. Try again shortly."
    default_code = "storage_unavailable"


class ServerError(exceptions.APIException):
    default_code = "server_error"


class ParseError(exceptions.ParseError):
    default_code = "parse_error"


class LengthRequired(exceptions.APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_code = "length_required"
    default_detail = (
        "This server cannot read a body without Content-Length (chunked transfer encoding); "
        "send the Content-Length header."
    )


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"
    default_detail = "The service is unavailable; nothing was kept. Try again shortly."


# Client input quoted in an error message is cut to this many characters.
CLIP = 40


def clip(text: str, limit: int = CLIP) -> str:
    """``text`` as an error message may quote it: at most ``limit`` characters, marked if cut."""
    text = str(text)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


# DRF codes whose legacy key differs.
_KEYS = {
    "authentication_failed": "not_authenticated",
    "invalid": "serializer_error",
    "error": "server_error",
}


def envelope(key: str, description: str, fields: dict | None = None) -> dict:
    return {"error": {"fields": fields or {}, "description": description, "key": f"common.{key}"}}


def translate(exc: Exception) -> Exception:
    """Django's and our own exceptions, as the DRF exceptions that stand for them."""
    if isinstance(exc, Http404):
        return exceptions.NotFound()  # same body for "no such id" and "not yours"
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return RequestTooLarge()
    if isinstance(exc, TooManyFilesSent | TooManyFieldsSent):
        return exceptions.ParseError(f"{exc} Send one image per request.")
    if isinstance(exc, SuspiciousOperation):
        return exceptions.ParseError("The request was malformed.")
    if isinstance(exc, StorageFailure):
        logger.error("images_app: storage failed: %s", exc)
        return StorageUnavailable()
    if isinstance(exc, OperationalError | InterfaceError):
        return database_unavailable(exc)
    return exc


def database_unavailable(exc: Exception) -> ServiceUnavailable:
    """The database could not be reached, or gave up (timeout, lost connection): 503.

    Django's OperationalError and InterfaceError are the connection-level errors (PostgreSQL's
    refused or lost connections and statement timeouts, SQLite's "database is locked"); a
    refused row (IntegrityError, a trigger's error) stays a 500.
    """
    logger.error("images_app: database unavailable: %s", exc, exc_info=exc)
    unavailable = ServiceUnavailable(
        "The database is unavailable; nothing was kept. Try again shortly."
    )
    unavailable.wait = app_settings.RETRY_AFTER  # DRF's handler turns it into Retry-After
    return unavailable


def exception_handler(exc: Exception, context: dict):
    """DRF's handler, then the envelope; anything DRF does not know is a 500 without a trace."""
    exc = translate(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("images_app: unhandled error", exc_info=exc)
        exc = ServerError()
        response = drf_exception_handler(exc, context)
    response.data = _body(exc)
    return response


def _body(exc: exceptions.APIException) -> dict:
    code = exc.default_code
    key = _KEYS.get(code, code)
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return envelope(key, SERIALIZER_ERROR, fields)
    return envelope(key, str(exc.detail))


def error_response(status_code: int, key: str, description: str) -> HttpResponse:
    """The envelope outside DRF (Django's own 404/500 on API paths)."""
    body = dumps(envelope(key, description))
    return HttpResponse(body, status=status_code, content_type="application/json")
