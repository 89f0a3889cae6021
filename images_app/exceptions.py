"""The one error catalogue, and the legacy envelope around DRF's own exception handling.

    {"error": {"fields": {...}, "description": "...", "key": "common.<code>"}}

Every error the API can answer is a class below, DRF style: ``status_code``, ``default_code``
(the envelope's ``key``) and ``default_detail`` (its ``description`` unless the raiser says
more), plus ``when``, one line for the documentation. Each class subclasses DRF's exception of
the same meaning where DRF has one, so DRF raising ``NotFound`` and the app raising ours answer
alike. Everything else reads this list: the exception handler, the middleware for errors outside
DRF, the OpenAPI schema (keys and example bodies) and the README's "Errors" table (a test fails
when the README disagrees; ``markdown_table()`` prints the table to paste).

To add an error: subclass ``ApiError`` (and DRF's class of the same meaning, if any) and give it
the four attributes; defining ``default_code`` is what puts it in the catalogue. The first class
of a status in the catalogue is the one a bare status gets (the middleware's Django errors).
"""

from __future__ import annotations

import logging

from django.core.exceptions import (
    PermissionDenied as DjangoPermissionDenied,
)
from django.core.exceptions import (
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

CATALOGUE: list[type[ApiError]] = []


class ApiError(exceptions.APIException):
    """Root of the catalogue. A subclass that defines ``default_code`` is an entry."""

    when = ""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "default_code" in cls.__dict__:
            CATALOGUE.append(cls)

    @classmethod
    def key(cls) -> str:
        return cls.default_code

    @classmethod
    def envelope(cls, description: str | None = None, fields: dict | None = None) -> dict:
        description = str(cls.default_detail) if description is None else description
        return {"error": {"fields": fields or {}, "description": description, "key": cls.key()}}

    @classmethod
    def response(cls, description: str | None = None, status_code: int | None = None):
        """The envelope as a plain Django response, for answers outside DRF's views."""
        body = dumps(cls.envelope(description))
        return HttpResponse(
            body, status=status_code or cls.status_code, content_type="application/json"
        )


# The catalogue, in the order of the documentation. Keys are stable: clients match on them.


class ParseError(ApiError, exceptions.ParseError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "common.parse_error"
    default_detail = "The request was malformed."
    when = (
        "a malformed request (broken multipart, a body that does not match its boundary, "
        "too many files or fields); the message is in `description` and never repeats more "
        "than a few dozen characters of client input"
    )


class SerializerError(ApiError, exceptions.ValidationError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "common.serializer_error"
    default_detail = "Serialization error"
    when = (
        "a field problem; `description` is always `Serialization error`, "
        "the messages are in `fields`"
    )


class NotAuthenticated(ApiError, exceptions.NotAuthenticated):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "common.not_authenticated"
    default_detail = "Authentication credentials were not provided."
    when = "no, unknown or expired token; `WWW-Authenticate: Bearer …` says which"


class PermissionDenied(ApiError, exceptions.PermissionDenied):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "common.permission_denied"
    default_detail = "You do not have permission to perform this action."
    when = (
        "the token lacks the `images` scope, or belongs to no user (a client-credentials "
        "token whose application has no user); `description` says which"
    )


class NotFound(ApiError, exceptions.NotFound):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "common.not_found"
    default_detail = "Not found."
    when = "unknown id, another owner's image, an unknown API path"


class MethodNotAllowed(ApiError, exceptions.MethodNotAllowed):
    status_code = status.HTTP_405_METHOD_NOT_ALLOWED
    default_code = "common.method_not_allowed"
    default_detail = "Method not allowed."
    when = "a method the path does not take"

    def __init__(self, method: str | None = None, detail=None, code=None) -> None:
        detail = detail or (f'Method "{clip(method)}" not allowed.' if method else None)
        exceptions.APIException.__init__(self, detail, code)


class NotAcceptable(ApiError, exceptions.NotAcceptable):
    status_code = status.HTTP_406_NOT_ACCEPTABLE
    default_code = "common.not_acceptable"
    default_detail = "Could not satisfy the request Accept header; the API answers JSON."
    when = "an `Accept` header that excludes JSON"


class InvalidVersion(ApiError, exceptions.NotAcceptable):
    status_code = status.HTTP_406_NOT_ACCEPTABLE
    default_code = "common.invalid_version"
    default_detail = "Unsupported X-Api-Version."
    when = "a bad `X-Api-Version`"


class IdempotencyConflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "common.idempotency_conflict"
    default_detail = (
        "A request with this Idempotency-Key is still being processed; retry when it is done."
    )
    when = "an `Idempotency-Key` whose first request is still running"


class LengthRequired(ApiError):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_code = "common.length_required"
    default_detail = (
        "This server cannot read a body without Content-Length (chunked transfer encoding); "
        "send the Content-Length header."
    )
    when = "a body without `Content-Length` on a server that cannot read chunked bodies"


class RequestTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "common.request_too_large"
    default_detail = "The request body is larger than the server accepts."
    when = "the body is over `MAX_REQUEST_BYTES`"


class UnsupportedMediaType(ApiError, exceptions.UnsupportedMediaType):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_code = "common.unsupported_media_type"
    default_detail = "Unsupported media type; send multipart/form-data."
    when = "not `multipart/form-data`"

    def __init__(self, media_type: str | None = None, detail=None, code=None) -> None:
        detail = detail or (f'Unsupported media type "{clip(media_type)}".' if media_type else None)
        exceptions.APIException.__init__(self, detail, code)


class IdempotencyMismatch(ApiError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "common.idempotency_mismatch"
    default_detail = (
        "This Idempotency-Key was used for a different request; use a new key for a new upload."
    )
    when = "an `Idempotency-Key` reused with a different request"


class Throttled(ApiError, exceptions.Throttled):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "common.throttled"
    default_detail = "Request was throttled."
    when = "over `UPLOAD_RATE`; `Retry-After` says when to retry"


class ServerError(ApiError):
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_code = "common.server_error"
    default_detail = "A server error occurred."
    when = "anything else; logged, no traceback in the body"


class ServiceUnavailable(ApiError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "common.service_unavailable"
    default_detail = "The service is unavailable; nothing was kept. Try again shortly."
    when = (
        "the database (or another dependency) cannot be reached; nothing was kept; "
        "`Retry-After` says when to retry"
    )


class StorageUnavailable(ApiError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "common.storage_unavailable"
    default_detail = "Image storage is unavailable; nothing was kept. Try again shortly."
    when = "storage down or failing; nothing was kept"


def entry_for(exc: exceptions.APIException) -> type[ApiError]:
    """The catalogue entry an exception answers as: itself, or the entry for DRF's class."""
    for cls in type(exc).__mro__:
        if cls in CATALOGUE:
            return cls
        entry = _FOR_DRF_CLASS.get(cls)
        if entry is not None:
            return entry
    return for_status(exc.status_code)


def for_status(status_code: int) -> type[ApiError]:
    """The first entry of a status; a status the catalogue lacks is a server error."""
    return next((cls for cls in CATALOGUE if cls.status_code == status_code), ServerError)


# DRF's own classes (raised by DRF itself) answer as the entry that subclasses them, except
# where two entries share one: DRF's NotAcceptable is about Accept, never the version header.
_FOR_DRF_CLASS: dict[type, type[ApiError]] = {
    **{base: cls for cls in reversed(CATALOGUE) for base in cls.__bases__[1:]},
    exceptions.NotAcceptable: NotAcceptable,
    exceptions.AuthenticationFailed: NotAuthenticated,
}


def markdown_table() -> str:
    """The README's "Errors" table, as the catalogue has it."""
    rows = ["| status | key | when |", "| --- | --- | --- |"]
    rows += [f"| {cls.status_code} | `{cls.key()}` | {cls.when} |" for cls in CATALOGUE]
    return "\n".join(rows)


def translate(exc: Exception) -> Exception:
    """Django's and our own exceptions, as the catalogue entries that stand for them."""
    if isinstance(exc, Http404):
        return NotFound()  # same body for "no such id" and "not yours"
    if isinstance(exc, DjangoPermissionDenied):
        return PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return RequestTooLarge()
    if isinstance(exc, TooManyFilesSent | TooManyFieldsSent):
        return ParseError(f"{exc} Send one image per request.")
    if isinstance(exc, SuspiciousOperation):
        return ParseError()
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


# Client input quoted in an error message is cut to this many characters.
CLIP = 40


def clip(text: object, limit: int = CLIP) -> str:
    """``text`` as an error message may quote it: at most ``limit`` characters, marked if cut."""
    text = str(text)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


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
    entry = entry_for(exc)
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return entry.envelope(SerializerError.default_detail, fields)
    return entry.envelope(str(exc.detail))
