"""The multipart parser: DRF's, refusing a body whose parts do not use the declared boundary.

    POST /api/images/ HTTP/1.1
    Content-Type: multipart/form-data; boundary=----WebKitFormBoundaryA   (copied from elsewhere)

    ------WebKitFormBoundaryB                                              (what the client sent)
    Content-Disposition: form-data; name="type"
    ...

Django's parser does not find the declared boundary anywhere, takes the whole body for one part,
and names it after the first header it meets: the upload becomes the value of ``type`` ("is not
a valid choice", quoting megabytes) or, past 2.5 MB, a field too large (413). A multipart body
starts with its boundary (RFC 2046 allows a short preamble before it); when the first
``PEEK_BYTES`` hold no line that starts with it, the request is refused as malformed at once.

A part's headers that are not UTF-8 (a filename in Latin-1 or cp1252, as some older HTTP
clients send it) make Django's parser skip the header line, and the part loses its name: the
image would be "required". The filename is never used, so the part headers among the peeked
bytes are read as Latin-1 and passed on as UTF-8 instead.

A body that ends before its closing delimiter (``--boundary--``) was cut off: the client gave
up, or sent a Content-Length smaller than its body and the server read only that much. Django's
parser keeps the parts it finished and drops the rest without a word, and the client would be
told the image is missing; it is refused as malformed instead, saying so.
"""

from __future__ import annotations

from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.http.multipartparser import MAX_TOTAL_HEADER_SIZE
from django.utils.http import parse_header_parameters
from rest_framework import parsers

from .exceptions import ParseError, clip

PEEK_BYTES = 64 * 1024
HEADERS_LIMIT = MAX_TOTAL_HEADER_SIZE  # Django's, for the headers of one part


class InMemoryUploadHandler(MemoryFileUploadHandler):
    """Keeps an upload in memory whatever its size: for bodies ``check_body`` has bounded.

    Django spools a file part over FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB: most phone photos) to
    a temporary file, and the serializer then reads it back whole, because the renderer takes
    bytes: one disk write and one read of every byte, for nothing. The whole request is already
    refused past MAX_REQUEST_BYTES before its body is read, so memory stays bounded by that.
    """

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.activated = True


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        boundary = parse_header_parameters(media_type or "")[1].get("boundary", "")
        if boundary and stream is not None:
            stream = _checked(stream, boundary.encode("latin-1", "replace"))
        try:
            parsed = super().parse(stream, media_type, parser_context)
        except ParseError:
            raise
        except parsers.ParseError as exc:  # DRF's message quotes Django's, which may quote input
            if "header size" in str(exc.detail):
                raise ParseError(
                    f"A part's headers are longer than the {HEADERS_LIMIT:,} bytes read for them: "
                    "send a shorter filename."
                ) from exc
            raise ParseError(clip(str(exc.detail), 120)) from exc
        if isinstance(stream, _Prefixed) and stream.read_any and not stream.closed:
            raise ParseError(
                "The multipart body ended before its closing boundary: it was cut off, or its "
                "Content-Length is smaller than the body sent. Send the whole body again."
            )
        return parsed


def _checked(stream, boundary: bytes) -> _Prefixed:
    head = _read_up_to(stream, PEEK_BYTES)
    delimiter = b"--" + boundary
    if head and not (head.startswith(delimiter) or b"\r\n" + delimiter in head):
        raise ParseError(
            "The multipart body does not use the boundary its Content-Type declares "
            f"({clip(boundary.decode('latin-1'))!r}): no part starts with it. Let the HTTP "
            "client build the Content-Type header rather than copying one from another request."
        )
    return _Prefixed(_utf8_part_headers(head, delimiter), stream, b"\r\n" + delimiter + b"--")


def _utf8_part_headers(head: bytes, delimiter: bytes) -> bytes:
    """``head`` with each part's headers that are not UTF-8 re-encoded from Latin-1 to UTF-8.

    One pass: each delimiter line is looked for from where the last part's headers ended. Parts
    whose headers do not end within ``head`` are left as they are.
    """
    pieces, done, searched, opening = [], 0, 0, delimiter + b"\r\n"
    while (found := head.find(opening, searched)) != -1:
        start = found + len(opening)
        searched = head.find(b"\r\n\r\n", start)
        if searched == -1:
            break
        try:
            head[start:searched].decode()
        except UnicodeDecodeError:
            pieces += [head[done:start], head[start:searched].decode("latin-1").encode()]
            done = searched
    return b"".join([*pieces, head[done:]]) if pieces else head


def _read_up_to(stream, size: int) -> bytes:
    parts, left = [], size
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


class _Prefixed:
    """A read-only stream: the bytes already peeked at, then the rest of ``stream``; ``closed``
    once ``closing`` (the body's closing delimiter) has gone by, ``read_any`` once a byte has."""

    def __init__(self, head: bytes, stream, closing: bytes):
        self.head, self.stream = head, stream
        self.closing, self.closed, self.read_any = closing, False, False
        self._tail = b"\r\n"  # the body may open with its closing delimiter (no parts)

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            data = self.stream.read(size)
        elif size is None or size < 0:
            data, self.head = self.head + self.stream.read(), b""
        else:
            data, self.head = self.head[:size], self.head[size:]
        self._watch(data)
        return data

    def _watch(self, data: bytes) -> None:
        """Look for ``closing`` in ``data`` and across the end of the last read: linear."""
        if not data or self.closed:
            return
        self.read_any = True
        keep = len(self.closing) - 1
        self.closed = self.closing in data or self.closing in self._tail + data[:keep]
        self._tail = (self._tail + data)[-keep:] if len(data) < keep else data[-keep:]
