"""Every row of the README's error table answers with the one envelope, never HTML."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from images_app.models import Image

from . import images
from .conftest import client_for, make_token, stored_keys_of_rows

pytestmark = pytest.mark.django_db


def jpeg_file(data: bytes | None = None):
    return SimpleUploadedFile("p.jpg", data or images.jpeg(64, 48), content_type="image/jpeg")


def upload(client, **extra):
    return client.post("/api/images/", {"image": jpeg_file(), "type": "product"}, **extra)


def error_of(response, status: int, key: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"fields", "description", "key"}
    assert body["error"]["key"] == key
    assert body["error"]["description"]
    return body["error"]


@pytest.mark.parametrize(
    "authorization", [None, "Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer "]
)
def test_no_or_unknown_token_is_401_with_a_bearer_challenge(authorization):
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    response = upload(client)

    error = error_of(response, 401, "common.not_authenticated")
    assert error["fields"] == {}
    assert response["WWW-Authenticate"].startswith("Bearer ")


def test_an_expired_token_is_401(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user, expires_in=-10)}")

    error_of(upload(client), 401, "common.not_authenticated")
    assert not Image.objects.exists()


def test_a_token_without_the_images_scope_is_403(user):
    response = upload(client_for(user, scope="read write"))

    error = error_of(response, 403, "common.permission_denied")
    assert error["fields"] == {}


@pytest.mark.parametrize("path", ["/api/images/999999/", "/api/images/-999999/"])
def test_an_unknown_id_is_404(api, path):
    error_of(api.get(path), 404, "common.not_found")
    error_of(api.delete(path), 404, "common.not_found")


@pytest.mark.parametrize("debug", [False, True])
def test_django_own_404_on_an_api_path_is_the_envelope(api, settings, debug):
    settings.DEBUG = debug
    doubled = "http://testserver//api/images/"  # a client joining URLs (a path-only "//" is a host)
    for path in ["/api/nothing-here", "/api/images/abc/", "/api/images/1/extra/", doubled]:
        response = api.get(path)
        error_of(response, 404, "common.not_found")
        assert b"<html" not in response.content.lower()


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_unsupported_method_is_405(api, method):
    error_of(getattr(api, method)("/api/images/"), 405, "common.method_not_allowed")


def test_a_bad_version_is_406(user):
    error_of(upload(client_for(user, version="13")), 406, "common.invalid_version")


def test_a_body_over_the_server_cap_is_413(api, settings):
    settings.IMAGES_APP = {"MAX_REQUEST_BYTES": 10_000}
    data = images.jpeg(1600, 1200)
    assert len(data) > 10_000
    response = api.post("/api/images/", {"image": jpeg_file(data), "type": "product"})

    error = error_of(response, 413, "common.request_too_large")
    assert "10000" in error["description"]
    assert not Image.objects.exists()


def test_a_json_body_is_415(api):
    response = api.post("/api/images/", {"type": "product"}, format="json")

    error = error_of(response, 415, "common.unsupported_media_type")
    assert "application/json" in error["description"]


@pytest.mark.usefixtures("one_rate_window")
def test_too_many_uploads_is_429_with_retry_after(api, settings):
    settings.IMAGES_APP = {"UPLOAD_RATE": "2/min"}
    assert upload(api).status_code == 200
    assert upload(api).status_code == 200
    response = upload(api)

    error_of(response, 429, "common.throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    assert api.get("/api/images/").status_code == 200  # reads are not throttled


# The filesystem's 503 (a root that cannot be written) is in test_faults.py, with what was
# left on disk checked too.


def test_s3_unreachable_is_503_and_nothing_is_kept(api, settings):
    from botocore.config import Config

    from .conftest import S3Backend, free_port

    dead = S3Backend(f"http://127.0.0.1:{free_port()}", "nowhere")
    config = dead.config(client_config=Config(connect_timeout=1, retries={"max_attempts": 1}))
    settings.STORAGES = {**settings.STORAGES, "images": config}

    error_of(upload(api), 503, "common.storage_unavailable")
    assert not Image.objects.exists()


def test_an_unexpected_failure_is_500_without_a_traceback(api, settings):
    settings.IMAGES_APP = {"ENGINE": "no-such-engine"}  # a server-side misconfiguration
    response = upload(api)

    error = error_of(response, 500, "common.server_error")
    assert "Traceback" not in response.content.decode()
    assert "no-such-engine" not in response.content.decode()
    assert error["fields"] == {}
    assert not Image.objects.exists()
    assert stored_keys_of_rows() == set()


def test_a_field_error_is_400_with_the_fixed_description(api):
    response = api.post("/api/images/", {"image": jpeg_file(b"not an image"), "type": "product"})

    error = error_of(response, 400, "common.serializer_error")
    assert error["description"] == "Serialization error"
    assert list(error["fields"]) == ["image"]
