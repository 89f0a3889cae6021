"""uvicorn's HTTP/1.1 protocol (h11), answering the requests it refuses itself with the envelope.

    POST /api/images/ HTTP/1.1
    Content-Length: abc                     (or -5, 99…9 with 5000 digits, two that differ)

    HTTP/1.1 400 Bad Request
    Content-Type: application/json

    {"error": {"fields": {}, "description": "Content-Length must be one whole number of bytes,
     sent once.", "key": "common.parse_error"}}

uvicorn refuses a malformed request line, header or chunk before the application runs, with a
plain-text "Invalid HTTP request received."; every error of the API is the envelope, so this
protocol writes that instead (as ``gunicorn_worker.py`` does for gunicorn). uvicorn has no
timeout for a request's headers either: a connection that has not sent whole headers within
``ASGI_READ_TIMEOUT`` seconds (default 10, nginx's ``client_header_timeout``) of opening, or of
its last answer, gets a 408 and is closed. The body's own timeout and limit are
``images_app.asgi.BodyLimit``'s. Run with ``--http project.uvicorn_protocol:EnvelopeH11Protocol``
(``python -m project.serve --server uvicorn`` does). No Django here: uvicorn imports it first.
"""

from __future__ import annotations

import json
import os
from http import HTTPStatus

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from project.gunicorn_worker import describe


def read_timeout() -> float:
    return float(os.environ.get("ASGI_READ_TIMEOUT", 10))


class EnvelopeH11Protocol(H11Protocol):
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._header_timer = None
        self._refused: h11.RemoteProtocolError | None = None
        parse = self.conn.next_event

        def next_event():  # h11's reason, which uvicorn's handle_events does not pass on
            try:
                return parse()
            except h11.RemoteProtocolError as exc:
                self._refused = exc
                raise

        self.conn.next_event = next_event
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        try:
            super().handle_events()
        finally:
            if self.conn.our_state is h11.SEND_RESPONSE:  # the headers are in, not yet answered
                self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()  # for the next request on this connection

    def send_400_response(self, msg: str) -> None:
        """uvicorn's signature (``msg`` is always its own words); h11's reason is the detail."""
        status = getattr(self._refused, "error_status_hint", 400)  # 431, 501 for some
        self._send_envelope(status, "common.parse_error", describe(status, str(self._refused)))

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(read_timeout(), self._headers_late)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.SEND_BODY:
            self.transport.close()  # refused (413, 408), still sending: stop reading it
        elif self.conn.their_state is h11.IDLE:
            seconds = f"{read_timeout():g}"
            description = f"The request was not sent in time ({seconds} s without its headers)."
            self._send_envelope(408, "common.parse_error", description)

    def _send_envelope(self, status: int, key: str, description: str) -> None:
        body = json.dumps({"error": {"fields": {}, "description": description, "key": key}})
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.transport.write(head.encode("latin-1") + body.encode())
        self.transport.close()
