"""How a request body is framed: a valid Content-Length, or a chunked body the server de-chunked.

    POST /api/images/ HTTP/1.1
    Transfer-Encoding: chunked              (curl -H 'Transfer-Encoding: chunked', Node streams,
                                             streamed mobile uploads: no Content-Length)

WSGI hands a chunked body to the application without a ``CONTENT_LENGTH``, and Django reads a
body without one as empty: the upload would be refused with "This field is required." for every
field. Servers that de-chunk the body say so with ``wsgi.input_terminated`` (gunicorn; nginx in
front of anything turns it into a Content-Length before the app sees it): there the body is read
here, up to ``MAX_REQUEST_BYTES``, and given the Content-Length it had. Under ASGI the server
always de-chunks, and Django has read the whole body into a spooled file before the view
(``images_app.asgi.BodyLimit`` bounded it while it arrived): it is given the length it has.
Servers that leave the raw chunks on the socket (Django's runserver) cannot be read: 411, telling
the client what to send.

``check_body(request)`` runs in the view once the caller is authenticated, so under WSGI nothing of
a body is read for a caller who will be refused anyway (under ASGI Django has read it already).
"""

from __future__ import annotations

import os
import re
import tempfile

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest

from .conf import app_settings
from .exceptions import LengthRequired, ParseError, RequestTooLarge, clip

# A length no request of ours comes near, but short enough that int() is instant and exact.
_LENGTH = re.compile(r"[0-9]{1,18}")
_CHUNK = 64 * 1024


def check_body(request: HttpRequest) -> None:
    """Refuse a body the view cannot read in full; give a de-chunked body its Content-Length.

    Raises ParseError (a Content-Length that is not a number, or both framings at once),
    LengthRequired (a chunked body this server cannot read) or RequestTooLarge.
    """
    meta = request.META
    declared = meta.get("CONTENT_LENGTH", "")
    chunked = bool(meta.get("HTTP_TRANSFER_ENCODING"))
    if declared:
        if chunked and not meta.get("wsgi.input_terminated"):
            raise ParseError(
                "The request has both Content-Length and Transfer-Encoding; send one of them."
            )
        _check_length(declared.strip())
    elif chunked:
        _read_unframed(request)


def _check_length(declared: str) -> None:
    limit = app_settings.MAX_REQUEST_BYTES
    if not _LENGTH.fullmatch(declared):
        if declared.isdigit():  # 19 digits or more: far past any limit
            raise RequestTooLarge(f"The request body is over the limit of {limit} bytes.")
        raise ParseError(
            f"Content-Length must be one whole number of bytes, sent once (got {clip(declared)!r})."
        )
    if int(declared) > limit:
        raise RequestTooLarge(
            f"The request body is {int(declared)} bytes; the limit is {limit} bytes."
        )


def _read_unframed(request: HttpRequest) -> None:
    """Read a de-chunked body into a spooled file and hand it to Django as if it had a length."""
    meta = request.META
    limit = app_settings.MAX_REQUEST_BYTES
    if isinstance(request, ASGIRequest):
        _measure_received(request, limit)
        return
    if not meta.get("wsgi.input_terminated"):
        raise LengthRequired()
    # Not closed here: Django reads it after we return. It goes (a temporary file past 2.5 MB,
    # deleted on close) when the request is dropped.
    spool = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115
    size = _copy(meta["wsgi.input"], spool, limit + 1)
    if size > limit:
        spool.close()
        raise RequestTooLarge(f"The request body is over the limit of {limit} bytes.")
    spool.seek(0)
    meta["CONTENT_LENGTH"] = str(size)
    # Django reads the body through this stream (HttpRequest.read); it was built at a length of
    # zero, so it is replaced by one over what was actually received.
    request._stream = LimitedStream(spool, size)


def _measure_received(request: ASGIRequest, limit: int) -> None:
    """Under ASGI the body is already whole, in the request's spooled file: give it its length."""
    stream = request._stream
    size = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    if size > limit:  # only without BodyLimit in front, which refuses it while it arrives
        raise RequestTooLarge(f"The request body is over the limit of {limit} bytes.")
    request.META["CONTENT_LENGTH"] = str(size)


def _copy(source, target, most: int) -> int:
    """Copy at most ``most`` bytes; return how many were copied."""
    copied = 0
    while copied < most:
        chunk = source.read(min(_CHUNK, most - copied))
        if not chunk:
            break
        target.write(chunk)
        copied += len(chunk)
    return copied
