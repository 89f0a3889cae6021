"""Idempotency-Key on POST /api/images/: a retried upload is stored once and answered alike."""

import threading
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection

from images_app.idempotency import STALE_SECONDS, IdempotencyKey
from images_app.models import Image

from . import images
from .conftest import bearer, client_for, make_token, stored_keys_of_rows

JPEG = images.jpeg(64, 48)


def upload(client, key: str | None = "k-1", data: bytes = JPEG, type_: str = "product"):
    photo = SimpleUploadedFile("photo.jpg", data, "image/jpeg")
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post("/api/images/", {"image": photo, "type": type_}, **headers)


def error_of(response, status: int, key: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["key"] == key
    return error


@pytest.mark.django_db
def test_a_retry_with_the_same_key_answers_the_first_answer_and_stores_nothing(api, backend):
    first = upload(api)
    files = backend.keys()

    again = upload(api)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()  # same id, same URLs
    assert Image.objects.count() == 1
    assert backend.keys() == files


@pytest.mark.django_db
def test_a_legacy_version_gets_its_own_first_answer_back(user, backend):
    client = client_for(user, version=5)
    photo = {"product_image": SimpleUploadedFile("p.jpg", JPEG, "image/jpeg"), "type": "user"}
    first = client.post("/api/images/", photo, HTTP_IDEMPOTENCY_KEY="legacy")
    photo = {"product_image": SimpleUploadedFile("p.jpg", JPEG, "image/jpeg"), "type": "user"}
    again = client.post("/api/images/", photo, HTTP_IDEMPOTENCY_KEY="legacy")

    assert again.json() == first.json()
    assert again.json()["id"] == -Image.objects.get().pk


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"data": images.jpeg(64, 49)},  # other file bytes
        {"type_": "account"},  # another field
    ],
)
def test_the_same_key_with_another_request_is_422(api, backend, change):
    assert upload(api).status_code == 200

    error = error_of(upload(api, **change), 422, "common.idempotency_mismatch")

    assert "different request" in error["description"]
    assert Image.objects.count() == 1


@pytest.mark.django_db
def test_the_same_key_with_another_version_is_422(user, backend):
    token = make_token(user)
    assert upload(bearer(token, 12)).status_code == 200

    error_of(upload(bearer(token, 9)), 422, "common.idempotency_mismatch")


@pytest.mark.django_db
def test_keys_are_per_user(user, other_user, backend):
    mine, theirs = upload(client_for(user)), upload(client_for(other_user))

    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["id"] != theirs.json()["id"]


@pytest.mark.django_db
def test_while_the_first_is_running_the_same_key_is_409(api, user, backend):
    IdempotencyKey.objects.create(owner=user, key="k-1", fingerprint="running")

    error = error_of(upload(api), 409, "common.idempotency_conflict")

    assert "still being processed" in error["description"]
    assert not Image.objects.exists()


@pytest.mark.django_db
def test_a_first_request_left_running_by_a_killed_worker_frees_its_key(api, user, backend):
    record = IdempotencyKey.objects.create(owner=user, key="k-1", fingerprint="running")
    record.created -= timedelta(seconds=STALE_SECONDS + 1)
    record.save()

    assert upload(api).status_code == 200


@pytest.mark.django_db
def test_a_failed_first_request_leaves_the_key_free_for_the_retry(api, settings, tmp_path):
    from .conftest import FilesystemBackend, unwritable_filesystem

    settings.STORAGES = {**settings.STORAGES, "images": unwritable_filesystem(tmp_path).config()}
    error_of(upload(api), 503, "common.storage_unavailable")  # storage down: nothing kept

    settings.STORAGES = {
        **settings.STORAGES,
        "images": FilesystemBackend(tmp_path / "media").config(),
    }
    assert upload(api).status_code == 200
    assert Image.objects.count() == 1


@pytest.mark.django_db
def test_a_field_error_is_kept_as_the_answer_too(api, backend):
    first = upload(api, data=b"not an image")
    again = upload(api, data=b"not an image")

    assert first.status_code == again.status_code == 400
    assert again.json() == first.json()


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "é"])
def test_a_malformed_key_is_400(api, key):
    error_of(upload(api, key=key), 400, "common.parse_error")


@pytest.mark.django_db
def test_without_the_header_nothing_changes(api, backend):
    assert upload(api, key=None).status_code == upload(api, key=None).status_code == 200

    assert Image.objects.count() == 2
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_keys_expire_and_are_swept(api, user, settings, backend):
    first = upload(api).json()
    IdempotencyKey.objects.update(created=IdempotencyKey.objects.get().created - timedelta(days=2))

    again = upload(api).json()  # expired: a new upload
    assert again["id"] != first["id"]

    IdempotencyKey.objects.update(created=IdempotencyKey.objects.get().created - timedelta(days=2))
    call_command("sweep_idempotency_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_store_one_image(user, backend):
    """Eight threads, one key, at once (PostgreSQL in CI's second run): one image, never two."""
    token = make_token(user)
    start = threading.Barrier(8)
    answers = []

    def send():
        try:
            start.wait()
            answers.append(upload(bearer(token), key="same"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Image.objects.count() == 1
    assert len(stored_keys_of_rows()) > 0
    image = Image.objects.get()
    statuses = sorted(answer.status_code for answer in answers)
    assert set(statuses) <= {200, 409}, statuses
    for answer in answers:
        if answer.status_code == 200:
            assert answer.json()["id"] == image.pk
        else:
            assert answer.json()["error"]["key"] == "common.idempotency_conflict"
    assert upload(bearer(token), key="same").json()["id"] == image.pk  # and after: the answer


@pytest.mark.django_db
def test_the_key_is_linked_to_its_image_in_the_images_transaction(api, backend):
    first = upload(api)

    assert IdempotencyKey.objects.get().image_id == first.json()["id"]


@pytest.mark.django_db
def test_a_worker_killed_after_storing_its_image_gets_the_retry_that_image(api, backend):
    first = upload(api)
    files = backend.keys()
    # The worker died between the image's commit and recording the answer (SIGKILL, timeout).
    IdempotencyKey.objects.update(status=None, response=None)

    again = upload(api)

    assert again.status_code == 200
    assert again.json() == first.json()  # same id, same URLs: never a second image
    assert Image.objects.count() == 1
    assert backend.keys() == files
    error_of(upload(api, data=images.jpeg(32, 24)), 422, "common.idempotency_mismatch")
