"""Two dozen uploads at once against a live server over real HTTP, with and without faults."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.core.management import call_command

from images_app.models import Image, PendingDeletion

from . import images
from .conftest import S3Backend, make_token, public_bucket, stored_keys_of_rows
from .faultproxy import CLIENT_CONFIG, FaultProxy

pytestmark = [pytest.mark.load, pytest.mark.live, pytest.mark.django_db(transaction=True)]

UPLOADS = 24
OWNERS = 3
FILES = 6


@pytest.fixture
def server(live_server):
    """The live server, listening with a production-sized backlog.

    Django's development server listens with a backlog of 10 (gunicorn's default is 2048): two
    dozen simultaneous connects overflow it, and the kernel resets some of them.
    """
    live_server.thread.httpd.socket.listen(128)
    return live_server


@pytest.fixture
def owners(django_user_model):
    return [django_user_model.objects.create_user(username=f"load{n}") for n in range(OWNERS)]


def upload_all(base_url: str, owners) -> list[tuple[object, bytes, requests.Response]]:
    """UPLOADS uploads from as many threads, released together; (owner, sent, response) each."""
    tokens = {owner: make_token(owner) for owner in owners}
    jobs = [(owners[n % OWNERS], images.jpeg(160 + n, 120)) for n in range(UPLOADS)]
    start = threading.Barrier(UPLOADS, timeout=30)

    def send(job):
        owner, data = job
        start.wait()
        response = requests.post(
            f"{base_url}/api/images/",
            headers={"Authorization": f"Bearer {tokens[owner]}", "X-Api-Version": "12"},
            files={"image": ("photo.jpg", data, "image/jpeg")},
            data={"type": "product"},
            timeout=60,
        )
        return owner, data, response

    with ThreadPoolExecutor(UPLOADS) as pool:
        return list(pool.map(send, jobs))


def assert_kept_whole(results, backend) -> list[Image]:
    """Every 200 is a row of its owner, with every one of its files stored; nothing else is."""
    kept = [(owner, data, response.json()) for owner, data, response in results if response.ok]
    ids = [body["id"] for _, _, body in kept]
    assert len(set(ids)) == len(ids)
    rows = {image.pk: image for image in Image.objects.all()}
    assert sorted(rows) == sorted(ids)  # no lost row, no extra row
    for owner, data, body in kept:
        image = rows[body["id"]]
        assert image.owner_id == owner.pk
        assert (image.width, image.height) == images.decode(data).size  # this upload's row
        assert len(image.stored_keys()) == FILES
        assert set(image.stored_keys()) <= backend.keys()
    keys = [key for image in rows.values() for key in image.stored_keys()]
    assert len(set(keys)) == len(keys)  # distinct keys
    return list(rows.values())


def cdn_in_front(options: dict, s3) -> None:
    """URLs from a custom domain (the CDN a deployment puts in front), here the endpoint itself.

    Without one, django-storages builds a boto3 client to make a URL, once per thread: a
    thread-per-request server pays half a second of CPU for each request.
    """
    options["custom_domain"] = f"{s3.endpoint.removeprefix('http://')}/{s3.bucket}"
    options["url_protocol"] = "http:"


def test_concurrent_uploads_all_succeed(server, settings, backend, owners):
    if backend.name == "s3":
        cdn_in_front(settings.STORAGES["images"]["OPTIONS"], backend)

    results = upload_all(server.url, owners)

    assert [response.status_code for _, _, response in results] == [200] * UPLOADS
    assert_kept_whole(results, backend)
    assert backend.keys() == stored_keys_of_rows()
    for _, data, response in results:  # fetchable as soon as the answer is sent
        assert requests.get(response.json()["urls"]["original"], timeout=10).content == data


def test_concurrent_uploads_under_storage_faults_lose_nothing(
    server, settings, s3_endpoint, owners
):
    s3 = S3Backend(s3_endpoint, public_bucket(s3_endpoint))
    proxy = FaultProxy(s3_endpoint).start()
    try:
        images_storage = s3.config(endpoint=proxy.url, client_config=CLIENT_CONFIG)
        cdn_in_front(images_storage["OPTIONS"], s3)
        settings.STORAGES = {**settings.STORAGES, "images": images_storage}
        proxy.fail_some_puts(one_in=12)  # ~40% of uploads have a key that cannot be written
        proxy.fail_deletes(one_in=3)  # and a third of the cleanup fails

        results = upload_all(server.url, owners)

        statuses = [response.status_code for _, _, response in results]
        assert set(statuses) == {200, 503}, statuses
        for _, _, response in results:
            if response.status_code == 503:
                assert response.json()["error"]["key"] == "common.storage_unavailable"
        assert_kept_whole(results, s3)
        assert PendingDeletion.objects.exists()  # the cleanup that failed is queued
        proxy.heal()

        call_command("sweep_storage", "--older-than", "0", verbosity=0)

        assert_kept_whole(results, s3)
        assert s3.keys() == stored_keys_of_rows()  # no orphan
        assert not PendingDeletion.objects.exists()
    finally:
        proxy.stop()
