"""Requests before they reach the pipeline: authentication first, Django's request limits, and
one owner never seeing another's images. Throttling: tests/test_throttling.py."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from images_app.models import Image

from . import images
from .conftest import FilesystemBackend, client_for, make_token

pytestmark = pytest.mark.django_db

BOUNDARY = "test-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    backend = FilesystemBackend(tmp_path / "media")
    settings.STORAGES = {**settings.STORAGES, "images": backend.config()}
    return backend


def multipart(parts: list[tuple[str, bytes, str | None]]) -> bytes:
    """A multipart body from (field name, content, filename or None) parts."""
    body = b""
    for name, content, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


def post_raw(client, body: bytes, content_type: str = MULTIPART, **extra):
    return client.generic("POST", "/api/images/", body, content_type=content_type, **extra)


def upload(client, type_name: str = "product"):
    photo = SimpleUploadedFile("photo.jpg", images.jpeg(64, 48), "image/jpeg")
    return client.post("/api/images/", {"image": photo, "type": type_name}, format="multipart")


def error_of(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content[:200]
    return response.json()["error"]


# -- 401 before the body is parsed -------------------------------------------------------------


class UnreadableBody(io.RawIOBase):
    """A request body stream that fails the test if anything reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer):
        raise AssertionError("the request body was read")


KEYS = {
    400: "common.parse_error",
    413: "common.request_too_large",
    415: "common.unsupported_media_type",
}
TOO_MANY_FILES = multipart([(f"f{n}", b"x", f"{n}.jpg") for n in range(11)])
# body, Content-Type, CONTENT_LENGTH claimed, and the answer a valid token gets instead of 401
BEFORE_AUTH = {
    "malformed multipart": (TOO_MANY_FILES[:200], "multipart/form-data", None, 400),  # no boundary
    "not multipart": (b'{"image": "x"}', "application/json", None, 415),
    "over the size limit": (b"x" * 64, MULTIPART, str(40 * MiB), 413),
    "too many files": (TOO_MANY_FILES, MULTIPART, None, 400),
}


@pytest.mark.parametrize("case", sorted(BEFORE_AUTH))
@pytest.mark.parametrize("token", ["none", "unknown", "expired"])
def test_without_a_valid_token_the_answer_is_401_whatever_the_body(user, case, token):
    body, content_type, length, _ = BEFORE_AUTH[case]
    client = {
        "none": APIClient(),
        "unknown": _bearer("not-a-token"),
        "expired": _bearer(make_token(user, expires_in=-60)),
    }[token]
    extra = {"CONTENT_LENGTH": length} if length else {}

    response = post_raw(client, body, content_type, **extra)

    assert response.status_code == 401
    assert error_of(response)["key"] == "common.not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not Image.objects.exists()


@pytest.mark.parametrize("case", sorted(BEFORE_AUTH))
def test_with_a_valid_token_the_same_body_gets_its_own_error(api, case):
    body, content_type, length, status = BEFORE_AUTH[case]
    extra = {"CONTENT_LENGTH": length} if length else {}

    response = post_raw(api, body, content_type, **extra)

    assert response.status_code == status
    assert error_of(response)["key"] == KEYS[status]


@pytest.mark.parametrize("token", ["none", "unknown"])
def test_authentication_never_reads_the_body(user, token):
    """django-oauth-toolkit's core reads request.POST for a token; this app's must not."""
    client = APIClient() if token == "none" else _bearer("not-a-token")

    response = post_raw(client, b"", **{"wsgi.input": UnreadableBody(), "CONTENT_LENGTH": "5000"})

    assert response.status_code == 401
    assert error_of(response)["key"] == "common.not_authenticated"


def test_a_token_without_the_images_scope_is_403_before_the_body_is_read(user):
    client = client_for(user, scope="read")

    response = post_raw(client, b"", **{"wsgi.input": UnreadableBody(), "CONTENT_LENGTH": "5000"})

    assert response.status_code == 403
    assert error_of(response)["key"] == "common.permission_denied"


def _bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


# -- Django's own request limits answer with the envelope --------------------------------------


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    ("case", "body", "status"),
    [
        ("too many files", TOO_MANY_FILES, 400),  # DATA_UPLOAD_MAX_NUMBER_FILES = 10
        ("too many fields", multipart([(f"f{n}", b"x", None) for n in range(1001)]), 400),
        ("fields too large", multipart([("type", b"x" * (3 * MiB), None)]), 413),
    ],
)
def test_djangos_request_limits_answer_with_the_envelope(settings, api, case, body, status, debug):
    settings.DEBUG = debug

    response = post_raw(api, body)

    assert response.status_code == status, case
    error = error_of(response)
    assert error["fields"] == {}
    assert error["key"] == KEYS[status]
    assert b"<html" not in response.content.lower()


def test_a_request_over_max_request_bytes_is_413_with_the_limit_named(settings, api):
    settings.IMAGES_APP = {"MAX_REQUEST_BYTES": 1000}

    response = upload(api)

    assert response.status_code == 413
    error = error_of(response)
    assert error["key"] == "common.request_too_large"
    assert "the limit is 1000 bytes" in error["description"]


@pytest.mark.parametrize("debug", [False, True])
def test_a_disallowed_host_on_an_api_path_is_the_envelope_not_djangos_html(settings, debug):
    settings.DEBUG = debug

    response = APIClient().get("/api/images/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert error_of(response)["key"] == "common.parse_error"


# -- owner isolation ---------------------------------------------------------------------------


@pytest.fixture
def theirs(other_user) -> Image:
    response = upload(client_for(other_user), "account")
    assert response.status_code == 200
    return Image.objects.get()


@pytest.mark.parametrize("version", [12, 7])  # v7 and below see negative ids
@pytest.mark.parametrize("method", ["get", "delete"])
def test_another_owners_image_is_a_404_like_a_missing_one(user, theirs, media, method, version):
    client = client_for(user, version=version)
    sign = -1 if version <= 7 else 1
    missing = theirs.pk + 1000

    for id_ in (theirs.pk, -theirs.pk):
        response = getattr(client, method)(f"/api/images/{id_}/")
        nonexistent = getattr(client, method)(f"/api/images/{sign * missing}/")
        assert response.status_code == nonexistent.status_code == 404
        assert response.content == nonexistent.content
        assert error_of(response)["key"] == "common.not_found"
    assert Image.objects.filter(pk=theirs.pk).exists()
    assert media.keys() == set(theirs.stored_keys())


def test_an_id_out_of_range_is_the_same_404(api, theirs):
    nonexistent = api.get(f"/api/images/{theirs.pk + 1000}/")
    huge = api.get("/api/images/9999999999999999999999/")

    assert huge.status_code == 404
    assert huge.content == nonexistent.content
