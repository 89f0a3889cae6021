"""ASGI middleware: the request body bounded and timed while it arrives, before Django reads it.

    POST /api/images/ HTTP/1.1
    Transfer-Encoding: chunked              (no Content-Length: curl -T, mobile apps, Node streams)

    application = BodyLimit(get_asgi_application(), timeout=10)         (project/asgi.py)

Django's ``ASGIHandler`` reads the whole body into a spooled temporary file (on disk past
``FILE_UPLOAD_MAX_MEMORY_SIZE``) before any middleware or view of ours runs, however long it is
and however slowly it comes. This wraps ``receive`` instead, so the bytes are counted as the
server hands them over:

- a declared ``Content-Length`` over ``MAX_REQUEST_BYTES`` is 413 before a byte is read (and
  before ``100 Continue``, so a client that asked sends nothing);
- a body, chunked or not, that grows past ``MAX_REQUEST_BYTES`` is 413 as soon as it does;
  Django is told the client left, so it drops what it had spooled (at most the limit);
- a body with no progress for ``timeout`` seconds is 408, as nginx's ``client_body_timeout``.

The answers are the API's envelope. Once the body is whole, ``receive`` is passed through as it
is: Django waits on it for the client's disconnect while the view runs, which is not a timeout.
A chunked body that got through is then read by ``body.check_body``: the server de-chunked it.
"""

from __future__ import annotations

import asyncio

from .conf import app_settings
from .exceptions import ApiError, ParseError, RequestTooLarge
from .renderers import dumps

DISCONNECT = {"type": "http.disconnect"}


class BodyLimit:
    """Wraps an ASGI application; see the module docstring."""

    def __init__(self, app, *, timeout: float = 10.0):
        self.app, self.timeout = app, timeout

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = app_settings.MAX_REQUEST_BYTES
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:  # anything else is body.py's to judge
            description = f"The request body is {int(declared)} bytes; the limit is {limit} bytes."
            return await _answer(send, RequestTooLarge, description)
        body = _Body(receive, limit, self.timeout)
        await self.app(scope, body.receive, send)
        if body.refusal:
            await _answer(send, *body.refusal)


class _Body:
    """``receive`` for the application: counts body bytes and times each wait until the end."""

    def __init__(self, receive, limit: int, timeout: float):
        self.source, self.limit, self.timeout = receive, limit, timeout
        self.received, self.whole = 0, False
        self.refusal: tuple | None = None

    async def receive(self) -> dict:
        if self.refusal:
            return DISCONNECT
        if self.whole:
            return await self.source()
        try:
            message = await asyncio.wait_for(self.source(), self.timeout)
        except TimeoutError:
            seconds = f"{self.timeout:g}"
            description = f"The request body was not sent in time ({seconds} s without progress)."
            self.refusal = (ParseError, description, 408, True)
            return DISCONNECT
        if message["type"] != "http.request":
            return message
        self.received += len(message.get("body", b""))
        if self.received > self.limit:
            description = f"The request body is over the limit of {self.limit} bytes."
            self.refusal = (RequestTooLarge, description)
            return DISCONNECT
        self.whole = not message.get("more_body", False)
        return message


async def _answer(
    send, error: type[ApiError], description: str, status: int = 0, close: bool = False
) -> None:
    body = dumps(error.envelope(description))
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if close:  # the client stalled: nothing more is worth waiting for on this connection
        headers.append((b"connection", b"close"))
    start = {"type": "http.response.start", "status": status or error.status_code}
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope, name: bytes) -> str:
    """The first value of a header, or ''."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return ""
