"""DELETE under storage faults, and ``manage.py sweep_storage``, on both storages."""

import io
import os
import re
import signal
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils import timezone

from images_app import sweep as sweep_module
from images_app.bulk import BulkOperations, S3Bulk, bulk_operations
from images_app.conf import app_settings
from images_app.models import Image, PendingDeletion, Rendition
from images_app.specs import ORIGINAL
from images_app.storage import get_storage, new_key_prefix
from images_app.sweep import sweep_storage

from . import images
from .conftest import FilesystemBackend
from .faultproxy import StorageFaults

pytestmark = pytest.mark.django_db


@pytest.fixture
def faults(backend, settings):
    faults = StorageFaults(backend, settings)
    yield faults
    faults.close()


def upload(api) -> Image:
    photo = SimpleUploadedFile("photo.jpg", images.jpeg(64, 48), "image/jpeg")
    response = api.post("/api/images/", {"image": photo, "type": "user"}, format="multipart")
    assert response.status_code == 200, response.content
    return Image.objects.get(pk=response.json()["id"])


def stored_image(owner) -> Image:
    """An image row and its six files, written straight to storage (no rendering: quicker)."""
    prefix = new_key_prefix(owner.pk, "user")
    keys = {name: f"{prefix}/{name}.jpg" for name in (ORIGINAL, *app_settings.RENDITIONS)}
    for key in keys.values():
        assert get_storage().save(key, ContentFile(b"jpeg bytes")) == key
    return Image.objects.create(
        owner=owner,
        key_prefix=prefix,
        original_key=keys.pop(ORIGINAL),
        format="JPEG",
        width=1,
        height=1,
        bytes=10,
        checksum="0" * 64,
        renditions={name: Rendition(key, 1, 1, "JPEG", 10) for name, key in keys.items()},
    )


def orphan(key: str) -> str:
    """A stored file with no row, as a crashed upload leaves it."""
    assert get_storage().save(key, ContentFile(b"left behind")) == key
    return key


def sweep(*args: str) -> str:
    out = io.StringIO()
    call_command("sweep_storage", *args, stdout=out)
    return out.getvalue()


def queued() -> set[str]:
    return set(PendingDeletion.objects.values_list("key", flat=True))


# -- DELETE /api/images/<id>/ -------------------------------------------------------------------


def test_delete_while_storage_fails_is_204_and_queues_the_files(
    api, backend, faults, django_capture_on_commit_callbacks
):
    image = upload(api)
    faults.fail_deletes()

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/images/{image.pk}/")

    assert response.status_code == 204
    assert api.get(f"/api/images/{image.pk}/").status_code == 404  # gone from the API at once
    assert api.get("/api/images/").json()["count"] == 0
    assert queued() == set(image.stored_keys())
    faults.heal()
    assert backend.keys() == set(image.stored_keys())  # still stored, still queued

    output = sweep()

    assert "Queued deletions: 6 deleted, 0 failed" in output
    assert all(f"  deleted {key}" in output for key in image.stored_keys())
    assert backend.keys() == set()
    assert not PendingDeletion.objects.exists()


def test_a_sweep_while_storage_still_fails_keeps_the_queue_and_exits_nonzero(
    api, user, backend, faults, django_capture_on_commit_callbacks
):
    image = stored_image(user)
    faults.fail_deletes()
    with django_capture_on_commit_callbacks(execute=True):
        api.delete(f"/api/images/{image.pk}/")

    # S3 lists but cannot delete; the filesystem, its volume gone, cannot even list.
    expected = "6 file" if backend.name == "s3" else "Could not list the storage"
    with pytest.raises(CommandError, match=expected):
        sweep()

    assert queued() == set(image.stored_keys())
    faults.heal()
    assert backend.keys() == set(image.stored_keys())


# -- unreferenced files -------------------------------------------------------------------------


def test_unreferenced_files_go_only_after_the_grace_period(user, backend):
    image = stored_image(user)
    lost = orphan("uploads/1/product/crashed-upload/original.jpg")
    outside = orphan("elsewhere/not-the-apps.txt")

    output = sweep()  # default grace: one hour

    assert "older than 3600 s: 0 deleted, 0 failed; 1 younger kept." in output
    assert backend.keys() == {*image.stored_keys(), lost, outside}

    output = sweep("--older-than", "0")

    assert "older than 0 s: 1 deleted, 0 failed; 0 younger kept." in output
    assert f"  deleted {lost}" in output
    assert backend.keys() == {*image.stored_keys(), outside}  # rows' files and others' stay


def test_the_grace_period_is_measured_from_the_files_time(backend):
    lost = orphan("uploads/1/account/crashed-upload/thumb.jpg")

    soon = sweep_storage(now=timezone.now() + timedelta(minutes=59))
    later = sweep_storage(now=timezone.now() + timedelta(minutes=61))

    assert (soon.orphans_young, soon.orphans_deleted) == ([lost], [])
    assert (later.orphans_young, later.orphans_deleted) == ([], [lost])
    assert backend.keys() == set()


def test_a_dry_run_reports_and_changes_nothing(
    api, user, backend, faults, django_capture_on_commit_callbacks
):
    image = stored_image(user)
    faults.fail_deletes()
    with django_capture_on_commit_callbacks(execute=True):
        api.delete(f"/api/images/{image.pk}/")
    faults.heal()
    lost = orphan("uploads/9/category/crashed-upload/ebay.jpg")
    before = backend.keys()

    output = sweep("--dry-run", "--older-than", "0")

    assert "Queued deletions: 6 would delete" in output
    assert "older than 0 s: 1 would delete" in output
    assert f"  would delete {lost}" in output
    assert output.rstrip().endswith("Dry run: nothing was changed.")
    assert backend.keys() == before
    assert queued() == set(image.stored_keys())


def test_a_queued_key_that_a_row_references_is_never_deleted(user, backend):
    image = stored_image(user)
    PendingDeletion.objects.create(key=image.original_key)

    report = sweep_storage(older_than=0)

    assert report.queued_referenced == [image.original_key]
    assert backend.keys() == set(image.stored_keys())
    assert not PendingDeletion.objects.exists()


def test_an_images_directory_goes_with_its_files_and_old_empty_ones_with_the_sweep(
    settings, tmp_path, user
):
    """Filesystems keep directories; object stores have none. An image's own directory goes
    with its last file; the shared ones above it, and any a crash left, go with the sweep."""
    backend = FilesystemBackend(tmp_path / "media")
    settings.STORAGES = {**settings.STORAGES, "images": backend.config()}
    image, neighbour = stored_image(user), stored_image(user)
    left_by_a_crash = backend.root / "uploads" / str(user.pk) / "user" / "crashed-upload"
    left_by_a_crash.mkdir(parents=True)
    image.delete()  # in the test transaction: the files stay queued

    young = sweep_storage()  # deletes the queued files, and with them the image's directory

    assert young.queued_deleted == image.stored_keys()
    assert not (backend.root / image.key_prefix).exists()
    assert young.directories_removed == []  # the empty one the crash left is too young
    assert left_by_a_crash.is_dir()
    old = sweep_storage(older_than=0)
    assert old.directories_removed == [str(left_by_a_crash.relative_to(backend.root))]
    assert backend.keys() == set(neighbour.stored_keys())


def test_an_empty_key_prefix_is_refused(settings):
    settings.IMAGES_APP = {"KEY_PREFIX": ""}

    with pytest.raises(ImproperlyConfigured, match=r'IMAGES_APP\["KEY_PREFIX"\]'):
        sweep_storage()


def test_a_negative_grace_period_is_refused():
    with pytest.raises(CommandError, match="--older-than"):
        sweep("--older-than", "-1")


# -- at scale: pages, batches, call counts, resume ----------------------------------------------


@pytest.fixture
def small_pages(monkeypatch):
    """Pages and delete batches of 10 keys (1,000 in production), and every delete batch seen."""
    monkeypatch.setattr(BulkOperations, "page_size", 10)
    batches: list[int] = []
    for cls in (BulkOperations, S3Bulk):
        real = cls.__dict__["delete_batch"]

        def recorded(self, keys, real=real):
            batches.append(len(keys))
            return real(self, keys)

        monkeypatch.setattr(cls, "delete_batch", recorded)
    return batches


def test_a_sweep_lists_a_page_per_page_size_objects_and_deletes_in_batches(
    user, backend, s3_requests, small_pages, monkeypatch
):
    monkeypatch.setattr("images_app.sweep.KEEP_KEYS", 5)
    rows = [stored_image(user) for _ in range(3)]  # 18 referenced files
    for n in range(25):
        orphan(f"uploads/{user.pk}/user/crash{n:02}/ebay.jpg")
    s3_requests.clear()

    report = sweep_storage(older_than=0)

    assert (report.listed, report.pages) == (43, 5)  # 43 objects, 10 a page
    assert report.counts["orphans_deleted"] == 25
    assert len(report.orphans_deleted) == 5  # the report keeps a sample, counts them all
    assert backend.keys() == {key for image in rows for key in image.stored_keys()}
    assert sum(small_pages) == 25 and max(small_pages) <= 10  # never more than a page a batch
    if backend.name == "s3":
        assert s3_requests["ListObjectsV2"] == 5  # one flat listing, no request per "folder"
        assert s3_requests["HeadObject"] == 0  # ages come with the listing
        assert s3_requests["DeleteObject"] == 0
        assert s3_requests["DeleteObjects"] == len(small_pages) <= 5


def test_a_sweep_under_debug_holds_no_query_log_beyond_one_page(
    user, backend, small_pages, settings
):
    """DEBUG keeps each query's SQL (a page's 1,000 keys, ~60 KB): a sweep of a million images
    would hold ~500 MB of it by its end. Each page's queries are dropped once it is swept."""
    from django.db import connection

    settings.DEBUG = True
    for n in range(45):
        orphan(f"uploads/{user.pk}/user/crash{n:02}/ebay.jpg")
    pages = []
    sweep_storage(older_than=0, on_page=lambda report: pages.append(len(connection.queries)))

    assert len(pages) == 5  # 45 objects, 10 a page
    assert max(pages) == 0  # nothing kept from the pages already swept


def test_the_listing_comes_in_key_order_on_both_storages(backend):
    keys = ["uploads/a-b/x.jpg", "uploads/a/y.jpg", "uploads/a.b/z.jpg", "uploads/a/b/c.jpg"]
    for key in keys:
        orphan(key)

    listed = [
        entry.key for page in bulk_operations(get_storage()).pages("uploads") for entry in page
    ]

    assert listed == sorted(keys)  # code-point order, as S3 lists: "-" < "." < "/"
    after = bulk_operations(get_storage()).pages("uploads", start_after="uploads/a.b/z.jpg")
    assert [entry.key for page in after for entry in page] == sorted(keys)[2:]


def test_a_stopped_sweep_resumes_after_its_last_key(user, backend, s3_requests, small_pages):
    lost = {orphan(f"uploads/{user.pk}/user/crash{n:02}/ebay.jpg") for n in range(25)}
    s3_requests.clear()

    first = sweep_storage(older_than=0, on_page=lambda report: True)  # stop after one page

    assert first.stopped and first.pages == 1 and first.counts["orphans_deleted"] == 10
    assert first.last_key == sorted(lost)[9]
    assert backend.keys() == set(sorted(lost)[10:])
    rest = sweep_storage(older_than=0, start_after=first.last_key)
    assert (rest.pages, rest.counts["orphans_deleted"], backend.keys()) == (2, 15, set())
    if backend.name == "s3":
        assert s3_requests["ListObjectsV2"] == 1 + 2  # the resumed run lists only what is left


def test_the_command_shows_progress_and_ctrl_c_says_how_to_resume(
    user, backend, small_pages, monkeypatch
):
    for n in range(25):
        orphan(f"uploads/{user.pk}/user/crash{n:02}/ebay.jpg")
    real_page = sweep_module._sweep_page

    def interrupted(*args):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the first page is swept
        real_page(*args)

    monkeypatch.setattr(sweep_module, "_sweep_page", interrupted)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="--start-after uploads/") as stopped:
        call_command("sweep_storage", "--older-than", "0", stdout=out, stderr=err)
    assert "Stopping after the current page" in err.getvalue()
    assert "Listed 10 objects in 1 pages." in out.getvalue()
    monkeypatch.setattr(sweep_module, "_sweep_page", real_page)
    resume = str(stopped.value).split("--start-after ")[1].split()[0]

    output = sweep("--older-than", "0", "--progress-every", "0", "--start-after", resume)

    # (a filesystem also lists the directory its first run emptied, and removes it)
    assert re.search(
        r"Listed 10 objects \(1 pages\), \d+ unreferenced deleted; last key uploads/", output
    )
    assert "objects in 2 pages." in output and "older than 0 s: 15 deleted" in output
    assert backend.keys() == set()
