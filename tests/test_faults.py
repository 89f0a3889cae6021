"""Storage and database faults during an upload: all or nothing.

S3 faults are real HTTP faults: django-storages talks to the moto server through
``tests/faultproxy.py``, which fails writes, deletes or whole connections on demand.
"""

import pytest
from botocore.config import Config
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.models.signals import post_save
from django.test import override_settings

from images_app.models import Image, PendingDeletion
from images_app.sweep import sweep_storage

from . import images
from .conftest import S3Backend, public_bucket, s3_client, unwritable_filesystem
from .faultproxy import CLIENT_CONFIG, FaultProxy

pytestmark = pytest.mark.django_db

FILES = 6  # the original and five renditions
STORAGE_UNAVAILABLE = {
    "fields": {},
    "description": "Image storage is unavailable; nothing was kept. Try again shortly.",
    "key": "common.storage_unavailable",
}


@pytest.fixture(scope="module")
def s3_through_proxy(s3_endpoint):
    """One bucket behind one proxy, configured once for the module: the writer threads keep
    their S3 clients from test to test (each costs about half a second of CPU to build)."""
    s3 = S3Backend(s3_endpoint, public_bucket(s3_endpoint))
    proxy = FaultProxy(s3_endpoint).start()
    config = s3.config(endpoint=proxy.url, client_config=CLIENT_CONFIG)
    with override_settings(STORAGES={**django_settings.STORAGES, "images": config}):
        yield s3, proxy
    proxy.stop()


@pytest.fixture
def s3(s3_through_proxy):
    """S3 over HTTP with the fault proxy in between; an empty bucket, every switch off."""
    s3, proxy = s3_through_proxy
    proxy.heal()
    proxy.landed.clear()
    if stored := s3.keys():
        objects = [{"Key": key} for key in stored]
        s3_client(s3.endpoint).delete_objects(Bucket=s3.bucket, Delete={"Objects": objects})
    return s3


@pytest.fixture
def proxy(s3, s3_through_proxy):
    return s3_through_proxy[1]


def upload(api, data: bytes | None = None):
    photo = SimpleUploadedFile("photo.jpg", data or images.jpeg(320, 240), "image/jpeg")
    return api.post("/api/images/", {"image": photo, "type": "product"}, format="multipart")


def assert_nothing_kept(response, backend, status=503, error=STORAGE_UNAVAILABLE):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": error}
    assert not Image.objects.exists()
    assert backend.keys() == set()


@pytest.mark.parametrize(
    ("landed", "status"), [(0, 503), (1, 503), (2, 500), (3, 503), (4, 503), (5, 500)]
)
def test_a_write_failing_at_any_position_keeps_nothing(api, s3, proxy, landed, status):
    proxy.fail_puts(after=landed, status=status)

    response = upload(api)

    assert proxy.landed["PUT"] == landed  # these files were written, then deleted again
    assert_nothing_kept(response, s3)
    assert not PendingDeletion.objects.exists()


def test_with_every_write_allowed_the_same_upload_keeps_all_its_files(api, s3, proxy):
    proxy.fail_puts(after=FILES)

    response = upload(api)

    assert response.status_code == 200, response.content
    assert proxy.landed["PUT"] == FILES
    assert s3.keys() == set(Image.objects.get().stored_keys())


def test_an_endpoint_that_is_down_answers_503_and_recovery_needs_no_restart(api, s3, proxy):
    before = upload(api)  # the writer threads now hold open connections to the endpoint
    assert before.status_code == 200
    proxy.refuse()  # those connections are reset, new ones refused

    response = upload(api)

    assert response.status_code == 503
    assert response.json() == {"error": STORAGE_UNAVAILABLE}
    assert Image.objects.count() == 1
    proxy.heal()
    after = upload(api)
    assert after.status_code == 200, after.content
    assert s3.keys() == {key for image in Image.objects.all() for key in image.stored_keys()}


def test_a_write_that_answers_too_late_leaves_a_file_that_the_sweep_removes(
    settings, api, s3, proxy
):
    """A write that timed out may still have landed, and the app cannot tell: the upload is a
    503 without a row, and sweep_storage removes the unreferenced file after the grace period."""
    images_storage = settings.STORAGES["images"]
    impatient = CLIENT_CONFIG.merge(Config(read_timeout=0.3))
    options = {**images_storage["OPTIONS"], "client_config": impatient}
    settings.STORAGES = {**settings.STORAGES, "images": {**images_storage, "OPTIONS": options}}
    proxy.fail_puts(after=2)
    proxy.slow_puts(0.6)  # two writes land, but the client has stopped waiting for them

    response = upload(api)

    assert response.status_code == 503
    assert response.json() == {"error": STORAGE_UNAVAILABLE}
    assert not Image.objects.exists()
    landed = s3.keys()
    assert 1 <= len(landed) <= 2  # two PUTs landed: two keys, or one key and its retry
    assert set(sweep_storage().orphans_young) == landed  # inside the grace period: kept
    assert set(sweep_storage(older_than=0).orphans_deleted) == landed
    assert s3.keys() == set()


def test_filesystem_storage_that_cannot_be_written_answers_503(settings, api, tmp_path):
    storage = unwritable_filesystem(tmp_path)
    blocker = storage.root.parent
    settings.STORAGES = {**settings.STORAGES, "images": storage.config()}

    response = upload(api)

    assert response.status_code == 503
    assert response.json() == {"error": STORAGE_UNAVAILABLE}
    assert not Image.objects.exists()
    assert list(tmp_path.iterdir()) == [blocker]
    assert blocker.read_bytes() == b""


# -- the database write fails after the files are stored --------------------------------------

SERVER_ERROR = {
    "fields": {},
    "description": "A server error occurred.",
    "key": "common.server_error",
}


@pytest.fixture
def refused_inserts():
    """A real trigger that makes the database refuse every new image row."""
    table = Image._meta.db_table
    if connection.vendor == "postgresql":
        create = [
            "CREATE FUNCTION images_app_test_refuse() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'test: image rows are refused'; END $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER images_app_test_refuse BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION images_app_test_refuse()",
        ]
        drop = [
            f"DROP TRIGGER IF EXISTS images_app_test_refuse ON {table}",
            "DROP FUNCTION IF EXISTS images_app_test_refuse()",
        ]
    elif connection.vendor == "sqlite":
        create = [
            f"CREATE TRIGGER images_app_test_refuse BEFORE INSERT ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'test: image rows are refused'); END"
        ]
        drop = ["DROP TRIGGER IF EXISTS images_app_test_refuse"]
    else:
        pytest.fail(f"no test trigger for {connection.vendor}: add one")
    with connection.cursor() as cursor:
        for statement in create:
            cursor.execute(statement)
    yield
    with connection.cursor() as cursor:
        for statement in drop:
            cursor.execute(statement)


@pytest.mark.django_db(transaction=True)  # autocommit, as a request runs in production
@pytest.mark.usefixtures("refused_inserts")
def test_a_refused_insert_deletes_the_stored_files(api, backend):
    response = upload(api)

    assert_nothing_kept(response, backend, status=500, error=SERVER_ERROR)


@pytest.mark.django_db(transaction=True)
def test_a_failure_after_the_insert_takes_the_row_and_the_files(api, backend):
    """A post_save receiver that raises: the row must not outlive the files it points to."""

    def fail(**kwargs):
        raise RuntimeError("test: a receiver failed")

    post_save.connect(fail, sender=Image, dispatch_uid="test_faults.fail")
    try:
        response = upload(api)
    finally:
        post_save.disconnect(sender=Image, dispatch_uid="test_faults.fail")

    assert_nothing_kept(response, backend, status=500, error=SERVER_ERROR)


@pytest.mark.usefixtures("refused_inserts")
def test_files_that_cannot_be_deleted_after_a_refused_insert_are_queued(api, s3, proxy):
    """Inside a transaction (ATOMIC_REQUESTS, or a caller's atomic()) the queue still works."""
    proxy.fail_deletes()

    response = upload(api)

    assert response.status_code == 500
    assert not Image.objects.exists()
    queued = set(PendingDeletion.objects.values_list("key", flat=True))
    assert len(queued) == FILES
    assert s3.keys() == queued
    proxy.heal()
    sweep_storage()
    assert s3.keys() == set()
    assert not PendingDeletion.objects.exists()
