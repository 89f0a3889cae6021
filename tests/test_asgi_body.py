"""Request bodies under ASGI: counted as they arrive (``images_app.asgi.BodyLimit``), and timed.

In process first: Django's ASGI handler behind ``BodyLimit``, fed by a ``receive`` that counts
what it hands out, so "refused before reading it all" is a byte count, not a time. Then live, on
uvicorn as ``make serve-asgi`` runs it: a client that stalls in its body or its headers gets a
408 envelope once ``ASGI_READ_TIMEOUT`` passes without progress. Chunked uploads, the limit and
bad Content-Lengths on uvicorn are in tests/test_request_framing.py, beside the other servers;
slow senders not holding it, in tests/test_slow_senders.py.
"""

import asyncio
import gc
import json
import socket

import pytest
from django.core.asgi import get_asgi_application

from images_app.asgi import BodyLimit
from images_app.models import Image

from .conftest import FilesystemBackend, make_token
from .live import Site
from .test_request_framing import upload_body

LIMIT = 100_000
CHUNK = 16 * 1024


class Client:
    """The ASGI server's side: a request's messages, and what the application answered."""

    def __init__(self, headers: list[tuple[bytes, bytes]], body: bytes | None, *, endless=False):
        self.scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "path": "/api/images/", "raw_path": b"/api/images/",
            "query_string": b"", "root_path": "", "scheme": "http",
            "headers": [(b"host", b"testserver"), *headers],
            "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
        }  # fmt: skip
        self.body, self.endless = body or b"", endless
        self.handed_out, self.stall_after, self.done = 0, None, False
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        stalled = self.stall_after is not None and self.handed_out >= self.stall_after
        if stalled or self.done:  # a client that stopped sending; one waiting for its answer
            await asyncio.sleep(3600)
        if self.endless:
            self.handed_out += CHUNK
            return {"type": "http.request", "body": b"\0" * CHUNK, "more_body": True}
        chunk = self.body[self.handed_out : self.handed_out + CHUNK]
        self.handed_out += len(chunk)
        more = self.handed_out < len(self.body)
        self.done = not more
        return {"type": "http.request", "body": chunk, "more_body": more}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    def run(self, app) -> tuple[int, dict]:
        asyncio.run(app(self.scope, self.receive, self.send))
        # The view's thread has ended; its database connection goes with it now, not at some
        # later collection (PostgreSQL would refuse to drop the test database while it is open).
        gc.collect()
        status = self.sent[0]["status"]
        body = b"".join(m.get("body", b"") for m in self.sent[1:])
        return status, json.loads(body)


@pytest.fixture
def media(settings, tmp_path):
    backend = FilesystemBackend(tmp_path / "media")
    settings.STORAGES = {**settings.STORAGES, "images": backend.config()}
    return backend


@pytest.fixture
def app(settings):
    settings.IMAGES_APP = {"MAX_REQUEST_BYTES": LIMIT}
    return BodyLimit(get_asgi_application(), timeout=0.2)


def test_an_endless_chunked_body_is_413_once_past_the_limit(app):
    client = Client([(b"transfer-encoding", b"chunked")], None, endless=True)

    status, body = client.run(app)

    assert status == 413
    assert body["error"]["key"] == "common.request_too_large"
    assert "limit of 100000 bytes" in body["error"]["description"]
    assert client.handed_out <= LIMIT + CHUNK  # read up to the limit, not to the end


def test_a_declared_length_over_the_limit_is_413_before_reading_a_byte(app):
    client = Client([(b"content-length", b"5000000000")], None, endless=True)

    status, body = client.run(app)

    assert status == 413
    assert body["error"]["description"] == (
        "The request body is 5000000000 bytes; the limit is 100000 bytes."
    )
    assert client.handed_out == 0


def test_a_body_that_stalls_is_408_and_the_connection_closed(app):
    client = Client([(b"transfer-encoding", b"chunked")], b"x" * 50_000)
    client.stall_after = CHUNK

    status, body = client.run(app)

    assert status == 408
    assert body["error"]["key"] == "common.parse_error"
    assert "not sent in time (0.2 s without progress)" in body["error"]["description"]
    assert (b"connection", b"close") in client.sent[0]["headers"]


@pytest.mark.django_db
def test_a_body_under_the_limit_reaches_the_view_whole(app):
    # No token: the view answers 401 after Django read the body, proving the body got through.
    client = Client([(b"transfer-encoding", b"chunked")], b"x" * (LIMIT - 1))

    status, body = client.run(app)

    assert (status, body["error"]["key"]) == (401, "common.not_authenticated")
    assert client.handed_out == LIMIT - 1


def upload(token: str, body: bytes, boundary: str) -> Client:
    headers = [
        (b"transfer-encoding", b"chunked"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"x-api-version", b"12"),
        (b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
    ]
    return Client(headers, body)


# The view runs in a thread of its own under ASGI: it sees committed rows only.
@pytest.mark.django_db(transaction=True)
def test_a_chunked_upload_is_read_under_asgi(app, user, media):
    body, boundary = upload_body(size=60_000)

    status, answer = upload(make_token(user), body, boundary).run(app)

    assert status == 200, answer
    assert set(answer) == {"id", "urls", "type", "new"}
    assert media.keys() == set(Image.objects.get().stored_keys())


@pytest.mark.django_db(transaction=True)
def test_without_body_limit_in_front_check_body_still_refuses_a_long_body(settings, user, media):
    settings.IMAGES_APP = {"MAX_REQUEST_BYTES": LIMIT}
    body, boundary = upload_body(size=LIMIT + 1)

    status, answer = upload(make_token(user), body, boundary).run(get_asgi_application())

    assert status == 413
    assert answer["error"]["key"] == "common.request_too_large"
    assert not Image.objects.exists()


def test_after_a_whole_body_receive_is_not_timed():
    """Django waits on ``receive`` for a disconnect while the view runs: not a stalled body."""
    seen = []

    async def view(scope, receive, send):
        seen.append(await receive())  # the body, whole
        seen.append(await receive())  # the disconnect, a while later

    async def receive():
        if seen:
            await asyncio.sleep(0.3)  # longer than the timeout below
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b"ok", "more_body": False}

    asyncio.run(BodyLimit(view, timeout=0.1)({"type": "http", "headers": []}, receive, None))

    assert [m["type"] for m in seen] == ["http.request", "http.disconnect"]


# -- live: uvicorn ------------------------------------------------------------------------------

TIMEOUT = "2"  # ASGI_READ_TIMEOUT for the server below, in seconds


@pytest.fixture(scope="module")
def uvicorn(tmp_path_factory):
    site = Site.create(tmp_path_factory.mktemp("asgi"))
    with site.serve("uvicorn", ASGI_READ_TIMEOUT=TIMEOUT) as base:
        yield site, base


def exchange(base: str, *parts: bytes) -> tuple[int, dict, bytes]:
    """Send ``parts``, then nothing more; the status, JSON body and head of the answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        for part in parts:
            sock.sendall(part)
        answer = b""
        while chunk := sock.recv(65536):  # until the server closes the connection
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body), head


@pytest.mark.live
def test_a_stalled_chunked_body_gets_408_and_a_closed_connection(uvicorn):
    site, base = uvicorn
    head = (
        "POST /api/images/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        f"Authorization: Bearer {site.token}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n\r\n"
    )

    status, body, answer_head = exchange(base, head.encode(), b"5\r\n--b\r\n")

    assert status == 408
    assert body["error"]["key"] == "common.parse_error"
    assert f"({TIMEOUT} s without progress)" in body["error"]["description"]
    assert b"connection: close" in answer_head.lower()


@pytest.mark.live
def test_headers_that_never_end_get_408(uvicorn):
    _, base = uvicorn

    status, body, _ = exchange(base, b"POST /api/images/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")

    assert status == 408
    assert f"({TIMEOUT} s without its headers)" in body["error"]["description"]
