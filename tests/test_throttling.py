"""images_app/throttling.py: uploads per user over IMAGES_APP["UPLOAD_RATE"] get a 429 with
Retry-After, counted in local memory or in Redis (REDIS_URL), reads never throttled."""

import uuid

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile

from images_app.models import Image

from . import images
from .conftest import FilesystemBackend, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    backend = FilesystemBackend(tmp_path / "media")
    settings.STORAGES = {**settings.STORAGES, "images": backend.config()}
    return backend


def upload(client):
    photo = SimpleUploadedFile("photo.jpg", images.jpeg(64, 48), "image/jpeg")
    return client.post("/api/images/", {"image": photo, "type": "product"}, format="multipart")


def error_of(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content[:200]
    return response.json()["error"]


@pytest.fixture(params=["locmem", "redis"])
def throttle_cache(request, settings):
    """The throttle's counters in local memory, or in Redis as REDIS_URL configures it."""
    if request.param == "locmem":
        yield None
        return
    url = "redis://127.0.0.1:6379/0"
    prefix = f"images-app-test-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is not running at {url} (redis-server --daemonize yes): {exc}")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": prefix,
        }
    }
    yield client, prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def test_uploads_over_the_rate_get_429_with_retry_after(settings, user, other_user, throttle_cache):
    settings.IMAGES_APP = {"UPLOAD_RATE": "2/min"}
    client = client_for(user)

    answers = [upload(client).status_code for _ in range(3)]

    assert answers == [200, 200, 429]
    response = upload(client)
    assert response.status_code == 429
    error = error_of(response)
    assert error["key"] == "common.throttled"
    assert error["fields"] == {}
    assert 1 <= int(response["Retry-After"]) <= 60
    assert Image.objects.filter(owner=user).count() == 2
    assert client.get("/api/images/").status_code == 200  # reads are not throttled
    assert upload(client_for(other_user)).status_code == 200  # per user
    if throttle_cache:
        redis_client, prefix = throttle_cache
        assert list(redis_client.scan_iter(f"{prefix}:*throttle*"))
