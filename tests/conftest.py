"""Shared fixtures: real storages (a directory, and S3 over HTTP via moto), users and tokens."""

import base64
import os
import secrets
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
import requests
from django.core.cache import cache
from django.core.files.storage import StorageHandler, storages
from django.test import Client
from django.utils import timezone
from moto.server import ThreadedMotoServer
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    set_token_value,
)
from requests.structures import CaseInsensitiveDict
from rest_framework.test import APIClient

from images_app.models import Image
from images_app.storage import get_storage

pytest_plugins = ["tests.browser"]  # the Chromium fixtures: browser, page

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 endpoint over HTTP on a loopback port (moto's server), for the whole run."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def public_bucket(endpoint: str) -> str:
    """A fresh bucket with a public-read policy, as a bucket policy or CDN gives in production."""
    name = f"images-{uuid.uuid4().hex[:12]}"
    client = s3_client(endpoint)
    client.create_bucket(Bucket=name)
    policy = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",'
        f'"Action":"s3:GetObject","Resource":"arn:aws:s3:::{name}/*"}}]}}'
    )
    client.put_bucket_policy(Bucket=name, Policy=policy)
    return name


class FilesystemBackend:
    name = "filesystem"

    def __init__(self, root: Path):
        self.root = root

    def config(self) -> dict:
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(self.root), "base_url": "/media/"},
        }

    def keys(self) -> set[str]:
        return {str(path.relative_to(self.root)) for path in self.root.rglob("*") if path.is_file()}


def unwritable_filesystem(tmp_path: Path) -> FilesystemBackend:
    """A filesystem storage whose root lies below a regular file: every write and probe fails."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    return FilesystemBackend(blocker / "media")


class S3Backend:
    name = "s3"

    def __init__(self, endpoint: str, bucket: str):
        self.endpoint, self.bucket = endpoint, bucket

    def config(self, endpoint: str | None = None, **options) -> dict:
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": self.bucket,
                "endpoint_url": endpoint or self.endpoint,
                "region_name": "us-east-1",
                "addressing_style": "path",
                "querystring_auth": False,
                "default_acl": None,
                "file_overwrite": True,
                **options,
            },
        }

    def keys(self) -> set[str]:
        pages = (
            s3_client(self.endpoint).get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        )
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def empty(self) -> None:
        keys = sorted(self.keys())
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 keys a call
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            s3_client(self.endpoint).delete_objects(Bucket=self.bucket, Delete={"Objects": batch})

    def head(self, key: str) -> dict:
        return s3_client(self.endpoint).head_object(Bucket=self.bucket, Key=key)


@pytest.fixture(scope="session")
def s3_shared(s3_endpoint):
    """One bucket and one S3Storage for the tests that use the plain S3 backend.

    django-storages opens a boto3 session per thread per storage instance (~0.1-0.5 s each);
    a fresh instance per test would pay that again in every writer thread of every test.
    """
    chosen = S3Backend(s3_endpoint, public_bucket(s3_endpoint))
    handler = StorageHandler({"images": chosen.config()})
    return chosen, handler["images"]


@pytest.fixture(params=["filesystem", "s3"])
def backend(request, settings, tmp_path):
    """The image storage, once as a directory and once as S3 over HTTP; set in STORAGES."""
    if request.param == "filesystem":
        chosen = FilesystemBackend(tmp_path / "media")
        settings.STORAGES = {**settings.STORAGES, "images": chosen.config()}
        yield chosen
        return
    chosen, storage = request.getfixturevalue("s3_shared")
    settings.STORAGES = {**settings.STORAGES, "images": chosen.config()}
    storages._storages["images"] = storage  # the same configuration, already connected
    yield chosen
    chosen.empty()


@pytest.fixture
def s3_requests(backend):
    """S3 requests the app's storage client makes, by operation name (botocore's own events)."""
    requests_: Counter[str] = Counter()
    if backend.name != "s3":
        yield requests_
        return
    events = get_storage().connection.meta.client.meta.events

    def count(model, **kwargs):
        requests_[model.name] += 1

    events.register("before-call.s3", count, unique_id="tests.s3_requests")
    yield requests_
    events.unregister("before-call.s3", unique_id="tests.s3_requests")


WINDOW_MARGIN = 20  # seconds: the longest such test (two uploads from a browser) takes a few


@pytest.fixture
def one_rate_window():
    """Start with at least WINDOW_MARGIN seconds left in the clock minute. The upload rate's
    window is the clock minute (images_app/throttling.py): a test that expects its N+1th upload
    in a minute to be refused must not straddle two minutes, where both windows let N in."""
    left = 60 - time.time() % 60
    if left < WINDOW_MARGIN:
        time.sleep(left + 0.05)


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()  # throttle counters
    yield
    cache.clear()


def make_token(user, scope: str = "images", *, expires_in: int = 3600) -> str:
    application, _ = get_application_model().objects.get_or_create(
        name="tests",
        defaults={"client_type": "confidential", "authorization_grant_type": "client-credentials"},
    )
    token = secrets.token_urlsafe(24)
    stored = get_access_token_model()(
        user=user,
        application=application,
        scope=scope,
        expires=timezone.now() + timedelta(seconds=expires_in),
    )
    set_token_value(stored, token)  # as django-oauth-toolkit stores it: hashed, per settings
    stored.save()
    return token


def client_credentials_token(owner=None, scope: str = "images") -> str:
    """A token from /o/token/ (client credentials) for a new application owned by ``owner``."""
    secret = secrets.token_urlsafe(32)
    application = get_application_model().objects.create(
        name=f"cc-{uuid.uuid4().hex[:8]}",
        user=owner,
        client_type="confidential",
        authorization_grant_type="client-credentials",
        client_secret=secret,
    )
    basic = base64.b64encode(f"{application.client_id}:{secret}".encode()).decode()
    response = Client().post(
        "/o/token/",
        {"grant_type": "client_credentials", "scope": scope},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def bearer(token: str, version: int | str | None = 12) -> APIClient:
    client = APIClient()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if version is not None:
        headers["HTTP_X_API_VERSION"] = str(version)
    client.credentials(**headers)
    return client


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username=f"u{uuid.uuid4().hex[:8]}")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username=f"o{uuid.uuid4().hex[:8]}")


def client_for(user, scope: str = "images", version: int | str | None = 12) -> APIClient:
    return bearer(make_token(user, scope), version)


@pytest.fixture
def api(user):
    """A client whose bearer token carries the images scope; X-Api-Version: 12."""
    return client_for(user)


@dataclass
class Fetched:
    status_code: int
    headers: dict
    content: bytes


def fetch(url: str) -> Fetched:
    """GET an absolute URL: through the test client for this app, over HTTP for S3."""
    assert url.startswith(("http://", "https://")), url
    if url.startswith("http://testserver/"):
        response = APIClient().get(url.removeprefix("http://testserver"))
        body = b"".join(response.streaming_content) if response.streaming else response.content
        return Fetched(response.status_code, CaseInsensitiveDict(response.headers), body)
    response = requests.get(url, timeout=10)
    return Fetched(response.status_code, CaseInsensitiveDict(response.headers), response.content)


def stored_keys_of_rows() -> set[str]:
    return {key for image in Image.objects.all() for key in image.stored_keys()}


def pytest_addoption(parser):
    parser.addoption(
        "--storage",
        choices=["all", "filesystem"],
        default="all",
        help="all (default): every storage test on the filesystem and on S3 (moto over HTTP); "
        "filesystem: only the filesystem runs, tests that need S3 are deselected (make test-fast).",
    )


def uses_s3(item: pytest.Item) -> bool:
    """The test runs against S3: the S3 param of ``backend``, or an S3 fixture of its own."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("backend") == "s3":
        return True
    return "s3_endpoint" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config, items):
    if config.getoption("storage") != "filesystem":
        return
    kept, deselected = [], []
    for item in items:
        (deselected if uses_s3(item) else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def pytest_configure(config):
    from django.conf import settings

    # OAuth applications hash their client secret; the default hasher costs ~0.3 s a test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
