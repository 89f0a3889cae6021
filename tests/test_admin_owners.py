"""``admin_owners.py`` and ``deletion.delete_images``: deleting a big owner from the admin."""

import math
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_refresh_token_model,
)

from images_app.models import Image, PendingDeletion, Rendition
from images_app.storage import get_storage
from images_app.sweep import sweep_storage

pytestmark = [pytest.mark.django_db]

ROWS = 2_000  # image rows, bulk-inserted
WITH_FILES = 20  # of them with their six files really stored
NAMES = ("thumb", "thumb_retina", "ipad", "ipad_retina", "ebay")


def seed_images(owner, rows: int = ROWS, with_files: int = WITH_FILES) -> set[str]:
    """``rows`` image rows of ``owner`` in one bulk insert; return the keys actually stored."""
    made, stored = [], set()
    for n in range(rows):
        prefix = f"uploads/{owner.pk}/product/img{n:06}"
        renditions = {name: Rendition(f"{prefix}/{name}.jpg", 1, 1, "JPEG", 1) for name in NAMES}
        image = Image(
            owner=owner,
            key_prefix=prefix,
            original_key=f"{prefix}/original.jpg",
            format="JPEG",
            width=1,
            height=1,
            bytes=1,
            checksum="0" * 64,
            renditions=renditions,
        )
        made.append(image)
        if n < with_files:
            for key in image.stored_keys():
                assert get_storage().save(key, ContentFile(b"x")) == key
                stored.add(key)
    Image.objects.bulk_create(made, batch_size=500)
    return stored


def give_tokens(user) -> None:
    """What an API client leaves behind: an application, access and refresh tokens, a grant."""
    application = get_application_model().objects.create(
        name="shop app",
        user=user,
        client_type="confidential",
        authorization_grant_type="authorization-code",
        redirect_uris="https://shop.example/cb",
    )
    expires = timezone.now() + timedelta(hours=1)
    access = get_access_token_model().objects.create(
        user=user, application=application, token="a" * 30, expires=expires, scope="images"
    )
    get_refresh_token_model().objects.create(
        user=user, application=application, token="r" * 30, access_token=access
    )
    get_grant_model().objects.create(
        user=user,
        application=application,
        code="c" * 30,
        expires=expires,
        redirect_uri="https://shop.example/cb",
    )


def delete_url(user) -> str:
    return f"/admin/auth/user/{user.pk}/delete/"


@pytest.mark.usefixtures("backend")
def test_the_confirmation_page_counts_instead_of_listing(admin_client, user):
    seed_images(user, with_files=0)
    give_tokens(user)

    response = admin_client.get(delete_url(user))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Cannot delete" not in html  # tokens no longer block the delete
    assert f"{ROWS:,} images and their stored files" in html
    assert "1 access tokens" in html and "1 applications" in html
    assert "img000000" not in html  # no image listed one by one
    assert len(response.content) < 30_000


def test_a_big_owner_with_tokens_goes_with_everything(
    admin_client, user, backend, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    stored = seed_images(user)
    give_tokens(user)
    others = seed_images_of_someone_else(admin_client)

    with (
        django_assert_max_num_queries(150),  # batches: not one per image (2,000) or file
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = admin_client.post(delete_url(user), {"post": "yes"})

    assert response.status_code == 302
    assert not type(user).objects.filter(pk=user.pk).exists()
    assert not Image.objects.filter(owner_id=user.pk).exists()
    assert not get_access_token_model().objects.filter(user_id=user.pk).exists()
    assert not get_application_model().objects.filter(user_id=user.pk).exists()
    assert not PendingDeletion.objects.exists()  # all deleted right after the commit
    assert backend.keys() == others
    assert stored  # the owner's files existed


def seed_images_of_someone_else(admin_client) -> set[str]:
    from django.contrib.auth import get_user_model

    other = get_user_model().objects.create_user(username="bystander")
    return seed_images(other, rows=3, with_files=3)


def test_files_beyond_the_inline_budget_stay_queued_for_the_sweep(
    admin_client, user, backend, settings, django_capture_on_commit_callbacks, s3_requests
):
    settings.IMAGES_APP = {"DELETE_INLINE_FILES": 60}  # ten images' files after the commit
    stored = seed_images(user)
    s3_requests.clear()

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(delete_url(user), {"post": "yes"})

    queued = set(PendingDeletion.objects.values_list("key", flat=True))
    assert len(queued) == ROWS * 6 - 60  # never left behind: queued
    assert backend.keys() == stored & queued  # the first 60 keys went after the commit
    if backend.name == "s3":
        assert s3_requests["DeleteObjects"] == 1 and s3_requests["DeleteObject"] == 0
    s3_requests.clear()

    report = sweep_storage()

    assert report.counts["queued_deleted"] == ROWS * 6 - 60
    assert backend.keys() == set() and not PendingDeletion.objects.exists()
    if backend.name == "s3":  # 11,940 keys: a DeleteObjects per 1,000
        assert s3_requests["DeleteObjects"] == math.ceil((ROWS * 6 - 60) / 1000)


def test_the_bulk_delete_action_uses_the_same_path(
    admin_client, user, other_user, backend, django_capture_on_commit_callbacks
):
    seed_images(user, rows=50, with_files=2)
    seed_images(other_user, rows=50, with_files=2)
    give_tokens(user)

    with django_capture_on_commit_callbacks(execute=True):
        selected = [user.pk, other_user.pk]
        response = admin_client.post(
            "/admin/auth/user/",
            {"action": "delete_selected", "_selected_action": selected, "post": "yes"},
        )

    assert response.status_code == 302
    assert not Image.objects.exists() and not PendingDeletion.objects.exists()
    assert backend.keys() == set()
