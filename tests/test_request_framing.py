"""How a body is framed: chunked bodies, bad Content-Length, and a boundary that does not match.

In process first (the framing rules, through the test client), then against the servers the
project ships (runserver, gunicorn, nginx in front of gunicorn, and uvicorn serving project.asgi)
with real clients: curl and a streamed requests body. tests/test_asgi_body.py has the rest of
ASGI's: the body counted as it arrives, and the timeouts.
"""

import io
import json
import re
import shutil
import socket
import subprocess
import time
import uuid
from urllib.parse import urlsplit

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile

from images_app.models import Image

from . import images
from .conftest import FilesystemBackend, client_for
from .live import ROOT, Site

MiB = 1024 * 1024
QUOTED = 40  # at most this many characters of client input in any message


def multipart(fields: dict[str, bytes], boundary: str, file_field: str = "image") -> bytes:
    body = b""
    for name, content in fields.items():
        filename = '; filename="photo.jpg"' if name == file_field else ""
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n\r\n'
        ).encode()
        body += content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def upload_body(size: int | None = None) -> tuple[bytes, str]:
    """A valid v12 upload body (a JPEG padded to ``size`` bytes if given) and its boundary."""
    boundary = uuid.uuid4().hex
    photo = images.jpeg(64, 48)
    if size:
        photo += b"\0" * (size - len(photo))  # trailing bytes after the JPEG's end
    return multipart({"type": b"product", "image": photo}, boundary), boundary


def error_of(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content[:200]
    return response.json()["error"]


@pytest.fixture
def media(settings, tmp_path):
    backend = FilesystemBackend(tmp_path / "media")
    settings.STORAGES = {**settings.STORAGES, "images": backend.config()}
    return backend


# -- in process ---------------------------------------------------------------------------------


def post(api, body: bytes, boundary: str, **meta):
    content_type = f"multipart/form-data; boundary={boundary}"
    return api.generic("POST", "/api/images/", body, content_type=content_type, **meta)


def chunked(body: bytes, *, server_dechunks: bool) -> dict:
    """The WSGI environ of a chunked request: no CONTENT_LENGTH; the body de-chunked or not."""
    return {
        "CONTENT_LENGTH": "",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(body),
        **({"wsgi.input_terminated": True} if server_dechunks else {}),
    }


@pytest.mark.django_db
def test_a_chunked_body_the_server_dechunked_is_read_like_any_other(api, media):
    body, boundary = upload_body()

    response = post(api, body, boundary, **chunked(body, server_dechunks=True))

    assert response.status_code == 200, response.content
    assert media.keys() == set(Image.objects.get().stored_keys())


@pytest.mark.django_db
def test_a_chunked_body_over_the_request_limit_is_413(settings, api, media):
    settings.IMAGES_APP = {"MAX_REQUEST_BYTES": 100_000}
    body, boundary = upload_body(size=100_001)

    response = post(api, body, boundary, **chunked(body, server_dechunks=True))

    assert response.status_code == 413
    error = error_of(response)
    assert error["key"] == "common.request_too_large"
    assert "limit of 100000 bytes" in error["description"]
    assert not Image.objects.exists()


@pytest.mark.django_db
def test_a_chunked_body_a_server_cannot_read_is_411_saying_to_send_content_length(api, media):
    body, boundary = upload_body()

    response = post(api, body, boundary, **chunked(body, server_dechunks=False))

    assert response.status_code == 411
    error = error_of(response)
    assert error["key"] == "common.length_required"
    assert "Content-Length" in error["description"]
    assert error["fields"] == {}


@pytest.mark.django_db
def test_without_a_token_a_chunked_body_is_401_and_not_read(client, media):
    body, boundary = upload_body()

    response = post(client, body, boundary, **chunked(body, server_dechunks=True))

    assert response.status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("declared", "status", "key"),
    [
        ("abc", 400, "common.parse_error"),
        ("-5", 400, "common.parse_error"),
        ("6, 6", 400, "common.parse_error"),  # a header sent twice, as some servers join it
        ("1e3", 400, "common.parse_error"),
        ("x" * 5000, 400, "common.parse_error"),
        ("9" * 30, 413, "common.request_too_large"),
        ("9" * 5000, 413, "common.request_too_large"),  # past int()'s 4300 digits
    ],
)
def test_a_content_length_that_is_not_a_byte_count_gets_the_envelope(
    api, media, declared, status, key
):
    body, boundary = upload_body()

    response = post(api, body, boundary, CONTENT_LENGTH=declared)

    assert response.status_code == status
    error = error_of(response)
    assert error["key"] == key
    assert len(error["description"]) < 200  # never the header quoted whole


@pytest.mark.django_db
def test_content_length_and_transfer_encoding_together_are_refused(api, media):
    body, boundary = upload_body()

    response = post(api, body, boundary, HTTP_TRANSFER_ENCODING="chunked")

    assert response.status_code == 400
    assert "one of them" in error_of(response)["description"]


# A body built with one boundary, sent with another one's Content-Type (copied from a page).
WRONG_BOUNDARY = "----WebKitFormBoundary7MA4YWxkTrZu0gW"


@pytest.mark.django_db
@pytest.mark.parametrize("size", [55_000, 14 * MiB])
def test_a_body_that_does_not_match_its_boundary_is_a_parse_error(api, media, size):
    body, _ = upload_body(size=size)

    response = post(api, body, WRONG_BOUNDARY)

    assert response.status_code == 400  # not 413 for the 14 MB one: nothing became a field
    error = error_of(response)
    assert error["key"] == "common.parse_error"
    assert "boundary" in error["description"]
    assert len(response.content) < 1000
    assert not Image.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(0.5, id="halfway through the image"),
        pytest.param(-4, id="only the closing dashes and CRLF missing"),
        pytest.param(3 * MiB, id="a 3 MiB image cut after its first MiB"),
    ],
)
def test_a_body_cut_before_its_closing_boundary_is_a_parse_error_saying_so(api, media, cut):
    body, boundary = upload_body(size=3 * MiB if cut == 3 * MiB else None)
    end = {0.5: len(body) // 2, -4: len(body) - 4, 3 * MiB: MiB}[cut]

    response = post(api, body[:end], boundary)  # what a server reads up to a short Content-Length

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["key"] == "common.parse_error"
    assert "ended before its closing boundary" in error["description"]
    assert not Image.objects.exists()
    assert media.keys() == set()


@pytest.mark.django_db
def test_a_body_with_an_epilogue_after_its_closing_boundary_is_accepted(api, media):
    body, boundary = upload_body()

    response = post(api, body + b"epilogue, ignored (RFC 2046)\r\n", boundary)

    assert response.status_code == 200, response.content


def file_part_body(filename: bytes) -> tuple[bytes, str]:
    """A v12 upload whose image part carries ``filename`` as raw bytes."""
    boundary = uuid.uuid4().hex
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\nproduct\r\n'
    disposition = b'Content-Disposition: form-data; name="image"; filename="' + filename + b'"'
    return (
        body.encode()
        + f"--{boundary}\r\n".encode()
        + disposition
        + b"\r\nContent-Type: image/jpeg\r\n\r\n"
        + images.jpeg(64, 48)
        + f"\r\n--{boundary}--\r\n".encode()
    ), boundary


@pytest.mark.django_db
@pytest.mark.parametrize(
    "filename", ["café.jpg".encode("latin-1"), "Überblick €.jpg".encode("cp1252")]
)
def test_a_filename_in_a_legacy_8_bit_encoding_is_accepted(api, media, filename):
    body, boundary = file_part_body(filename)

    response = post(api, body, boundary, HTTP_X_API_VERSION="12")

    assert response.status_code == 200, response.content  # the filename is never used
    assert Image.objects.count() == 1


@pytest.mark.django_db
def test_a_filename_too_long_for_the_part_headers_is_a_parse_error_saying_so(api, media):
    body, boundary = file_part_body(b"x" * 2000 + b".jpg")

    response = post(api, body, boundary, HTTP_X_API_VERSION="12")

    assert response.status_code == 400
    error = error_of(response)
    assert error["key"] == "common.parse_error"
    assert "1,024 bytes" in error["description"]
    assert "filename" in error["description"]


@pytest.mark.django_db
def test_a_preamble_before_the_first_boundary_is_still_accepted(api, media):
    body, boundary = upload_body()

    response = post(api, b"This is a multipart message.\r\n" + body, boundary)

    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_a_field_error_quotes_a_few_dozen_characters_of_the_input_at_most(api, media):
    photo = SimpleUploadedFile("p.jpg", images.jpeg(32, 32), "image/jpeg")
    long_type = "product" + "x" * 100_000

    response = api.post("/api/images/", {"image": photo, "type": long_type}, format="multipart")

    assert response.status_code == 400
    (message,) = error_of(response)["fields"]["type"]
    assert message.endswith("is not a valid choice.")
    assert len(message) < QUOTED + 30


@pytest.mark.django_db
@pytest.mark.parametrize("version", ["7" * 5000, "x" * 10_000])
def test_a_bad_version_header_is_406_quoting_a_few_dozen_characters(user, version):
    response = client_for(user, version=version).post("/api/images/", {})

    assert response.status_code == 406
    assert len(error_of(response)["description"]) < 120


# -- live: the servers the project ships, real clients -----------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    return Site.create(tmp_path_factory.mktemp("framing"))


@pytest.fixture(scope="module", params=["runserver", "gunicorn", "front", "uvicorn"])
def server(request, site):
    with site.serve(request.param) as base:
        yield request.param, base


def curl(*args: str) -> tuple[int, dict]:
    """curl's status code and JSON body."""
    result = subprocess.run(
        ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *args],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    body, _, status = result.stdout.rpartition("\n")
    return int(status), json.loads(body)


def streamed(body: bytes, size: int = 4096):
    """A generator body: requests sends it with Transfer-Encoding: chunked."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def raw_request(base: str, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes exactly as given; the status and the body of the answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(head.encode("latin-1") + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    head, _, body = rest.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunked(body)
    return int(status_line.split()[1]), body


def dechunked(data: bytes) -> bytes:
    body = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return body
        body, data = body + data[:size], data[size + 2 :]


@pytest.mark.live
def test_curl_with_a_chunked_body_uploads_or_is_told_to_send_content_length(server, site):
    kind, base = server
    sample = ROOT / "docs" / "sample.jpg"
    assert shutil.which("curl"), "curl is needed for the live tests (apt-get install curl)"

    status, body = curl(
        "-X", "POST", f"{base}/api/images/", "-H", f"Authorization: Bearer {site.token}",
        "-H", "Transfer-Encoding: chunked", "-F", f"image=@{sample}", "-F", "type=product",
    )  # fmt: skip

    if kind == "runserver":  # Django's development server leaves the chunks on the socket
        assert status == 411, body
        assert body["error"]["key"] == "common.length_required"
    else:
        assert status == 200, body
        assert set(body) == {"id", "urls", "type", "new"}


@pytest.mark.live
def test_a_streamed_requests_body_uploads_or_is_411(server, site):
    kind, base = server
    body, boundary = upload_body()
    headers = {**site.auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}

    url = f"{base}/api/images/"
    response = requests.post(url, data=streamed(body), headers=headers, timeout=60)

    assert response.status_code == (411 if kind == "runserver" else 200), response.text


@pytest.mark.live
def test_a_chunked_body_over_the_request_limit_is_413_and_nothing_is_kept(server, site):
    kind, base = server
    body, boundary = upload_body(size=33 * MiB)  # MAX_REQUEST_BYTES is 32 MiB
    headers = {**site.auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    before = site.media_files()

    try:
        response = requests.post(
            f"{base}/api/images/", data=streamed(body, MiB), headers=headers, timeout=120
        )
    except requests.ConnectionError:  # the server answered and closed before the body ended
        pytest.fail("the server closed the connection without an answer")

    expected = (411, "common.length_required") if kind == "runserver" else (
        413, "common.request_too_large"
    )  # fmt: skip
    assert (response.status_code, response.json()["error"]["key"]) == expected
    assert site.media_files() == before


# Content-Length values that are not one byte count, sent raw (clients refuse to send them).
BAD_LENGTHS = {
    "letters": "Content-Length: abc\r\n",
    "negative": "Content-Length: -5\r\n",
    "5000 digits": f"Content-Length: {'9' * 5000}\r\n",
    "a list": "Content-Length: 8, 8\r\n",
    "sent twice": "Content-Length: 8\r\nContent-Length: 9\r\n",
}


@pytest.mark.live
@pytest.mark.parametrize("case", sorted(BAD_LENGTHS))
def test_a_bad_content_length_is_the_envelope_on_every_server(server, site, case):
    kind, base = server
    if kind == "runserver" and case == "sent twice":
        case = "letters"  # runserver's WSGI environ only shows the first of two headers
    if kind == "uvicorn" and case == "a list":
        case = "letters"  # h11 reads "8, 8" as 8, as RFC 9110 section 8.6 allows
    head = (
        "POST /api/images/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Authorization: Bearer {site.token}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n" + BAD_LENGTHS[case] + "\r\n"
    )

    status, body = raw_request(base, head, b"--b--\r\n")

    error = json.loads(body)["error"]
    if case == "5000 digits" and kind == "runserver":
        assert (status, error["key"]) == (413, "common.request_too_large")
    else:
        assert (status, error["key"]) == (400, "common.parse_error"), error
    assert len(error["description"]) < 200


@pytest.mark.live
def test_head_healthz_answers_without_a_body_or_a_warning(server, site):
    _, base = server

    response = requests.head(f"{base}/healthz", timeout=30)

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Type"] == "application/json"
    time.sleep(0.5)  # the server flushes its log
    logged = "".join(log.read_text() for log in site.logs)
    assert "no-body response" not in logged


# Requests a server refuses before the app sees them, some before it has a URI at all.
CLOSE = "Host: 127.0.0.1\r\nConnection: close\r\n"
MALFORMED = {
    "no request line": "HELLO\r\n\r\n",
    "a bad escape": f"GET /api/images/%ZZ/ HTTP/1.1\r\n{CLOSE}\r\n",
    "a URI over 16k": f"GET /api/images/?x={'a' * 20_000} HTTP/1.1\r\n{CLOSE}\r\n",
    "a header over 16k": f"GET /healthz HTTP/1.1\r\n{CLOSE}X-Big: {'a' * 20_000}\r\n\r\n",
    "an unknown transfer coding": (
        f"POST /api/images/ HTTP/1.1\r\n{CLOSE}Transfer-Encoding: gzip\r\n\r\n"
    ),
    "TRACE": f"TRACE /api/images/ HTTP/1.1\r\n{CLOSE}\r\n",
}


@pytest.mark.live
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_request_refused_before_the_app_is_the_envelope_and_never_a_5xx(server, site, case):
    kind, base = server
    if kind == "runserver" and case == "no request line":
        case = "a bad escape"  # the development server answers it as HTTP/0.9, in HTML

    status, body = raw_request(base, MALFORMED[case])

    assert status < 500 or status == 501, (status, body[:300])  # 501: a coding nobody reads
    if status >= 400:  # runserver reads a long header, and finds no image at /api/images/%ZZ/
        error = json.loads(body)["error"]
        assert error["key"].startswith("common."), error
        assert len(error["description"]) < 200
        assert not re.search(r"bytearray\(|\bb'", error["description"]), error  # no Python reprs


@pytest.mark.live
def test_an_http_1_0_upload_without_host_gets_urls_of_the_server_it_reached(server, site):
    _, base = server
    body, boundary = upload_body()
    head = (
        "POST /api/images/ HTTP/1.0\r\n"
        f"Authorization: Bearer {site.token}\r\nX-Api-Version: 12\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )

    status, answer = raw_request(base, head, body)

    assert status == 200, answer[:300]
    urls = json.loads(answer)["urls"]
    port = urlsplit(base).port  # runserver names itself localhost: the same server
    assert {urlsplit(url).port for url in urls.values()} == {port}, urls
    assert requests.get(urls["thumb"], timeout=30).status_code == 200


@pytest.mark.live
def test_a_content_length_shorter_than_the_body_is_a_parse_error_and_nothing_is_kept(server, site):
    _, base = server
    body, boundary = upload_body()
    head = (
        f"POST /api/images/ HTTP/1.1\r\n{CLOSE}Authorization: Bearer {site.token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body) - 10}\r\n\r\n"  # the closing boundary is past it
    )
    before = site.media_files()

    status, answer = raw_request(base, head, body)

    error = json.loads(answer)["error"]
    assert (status, error["key"]) == (400, "common.parse_error"), error
    assert "ended before its closing boundary" in error["description"]
    assert site.media_files() == before
