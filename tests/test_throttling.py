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


@pytest.mark.usefixtures("one_rate_window")
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


def test_sixteen_connections_of_one_user_get_exactly_the_rate(settings, user, throttle_cache):
    """The count is atomic: 200 uploads at once over 16 threads let exactly 120 through."""
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from images_app.throttling import UploadRateThrottle

    settings.IMAGES_APP = {"UPLOAD_RATE": "120/min"}
    request = SimpleNamespace(method="POST", user=user)

    class InOneMinute(UploadRateThrottle):
        def timer(self) -> float:
            return 6_000_030.0  # mid-window: every attempt falls in the same minute

    def attempt(_) -> bool:
        return InOneMinute().allow_request(request, None)

    with ThreadPoolExecutor(max_workers=16) as pool:
        allowed = list(pool.map(attempt, range(200)))

    assert allowed.count(True) == 120
    throttle = InOneMinute()
    assert not throttle.allow_request(request, None)
    assert throttle.wait() == 30  # Retry-After: until the minute ends


def test_a_new_window_lets_uploads_through_again(settings, user, throttle_cache):
    from types import SimpleNamespace

    from images_app.throttling import UploadRateThrottle

    settings.IMAGES_APP = {"UPLOAD_RATE": "2/min"}
    request = SimpleNamespace(method="POST", user=user)
    clock = [6_000_000.0]

    class Clocked(UploadRateThrottle):
        def timer(self) -> float:
            return clock[0]

    assert [Clocked().allow_request(request, None) for _ in range(3)] == [True, True, False]
    clock[0] += 60
    assert Clocked().allow_request(request, None)
