"""GET, list and DELETE: the caller's own images only, files go with their row."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from images_app.models import Image, PendingDeletion

from . import images
from .conftest import client_for, fetch

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("backend")]


def upload(client, type_name: str = "product", size=(64, 48)) -> dict:
    data = SimpleUploadedFile("p.jpg", images.jpeg(*size), content_type="image/jpeg")
    response = client.post("/api/images/", {"image": data, "type": type_name})
    assert response.status_code == 200, response.content
    return response.json()


def test_detail_shows_the_image_with_its_metadata(api):
    created = upload(api, "user", size=(320, 200))
    response = api.get(f"/api/images/{created['id']}/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "urls", "type", "width", "height", "format", "bytes", "created"}
    assert (body["id"], body["type"], body["urls"]) == (created["id"], 2, created["urls"])
    assert (body["width"], body["height"], body["format"]) == (320, 200, "JPEG")
    assert body["bytes"] == Image.objects.get().bytes
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", body["created"])


def test_legacy_versions_see_and_accept_the_negative_id(user):
    legacy = client_for(user, version=7)
    created = legacy.post(
        "/api/images/",
        {"product_image": SimpleUploadedFile("p.jpg", images.jpeg(64, 48)), "type": "product"},
    ).json()
    real_id = Image.objects.get().pk
    assert created["id"] == -real_id

    assert legacy.get(f"/api/images/{-real_id}/").json()["id"] == -real_id
    assert legacy.get(f"/api/images/{real_id}/").json()["id"] == -real_id
    assert client_for(user, version=8).get(f"/api/images/{-real_id}/").json()["id"] == real_id
    assert [item["id"] for item in legacy.get("/api/images/").json()["results"]] == [-real_id]


def test_a_setting_turns_the_negative_id_bug_off(user, settings):
    settings.IMAGES_APP = {"NEGATIVE_ID_MAX_VERSION": None}
    response = client_for(user, version=2).post(
        "/api/images/", {"product_image": SimpleUploadedFile("p.jpg", images.jpeg(64, 48))}
    )
    assert response.json()["id"] == Image.objects.get().pk


def test_list_is_the_callers_own_newest_first_and_paginated(api, user, other_user):
    mine = [upload(api)["id"] for _ in range(3)]
    upload(client_for(other_user))

    page = api.get("/api/images/?page_size=2").json()
    assert page["count"] == 3
    assert [item["id"] for item in page["results"]] == mine[::-1][:2]
    assert page["previous"] is None
    assert page["next"].startswith("http://testserver/api/images/?")
    rest = api.get(page["next"]).json()
    assert [item["id"] for item in rest["results"]] == [mine[0]]
    assert rest["next"] is None


def test_another_owners_image_is_404_like_a_missing_one(api, other_user, backend):
    theirs = upload(client_for(other_user))
    stored = backend.keys()

    for response in (
        api.get(f"/api/images/{theirs['id']}/"),
        api.delete(f"/api/images/{theirs['id']}/"),
    ):
        assert response.status_code == 404
        assert response.json() == api.get("/api/images/987654321/").json()
    assert Image.objects.filter(pk=theirs["id"]).exists()
    assert backend.keys() == stored


def test_delete_removes_the_row_and_every_file(api, backend, django_capture_on_commit_callbacks):
    kept = upload(api)
    gone = upload(api)
    kept_keys = set(Image.objects.get(pk=kept["id"]).stored_keys())

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/images/{gone['id']}/")

    assert response.status_code == 204
    assert response.content == b""
    assert api.get(f"/api/images/{gone['id']}/").status_code == 404
    assert backend.keys() == kept_keys
    assert not PendingDeletion.objects.exists()
    assert fetch(gone["urls"]["thumb"]).status_code in (403, 404)
    assert fetch(kept["urls"]["thumb"]).status_code == 200


def test_delete_with_a_legacy_negative_id(user, backend, django_capture_on_commit_callbacks):
    legacy = client_for(user, version=5)
    created = legacy.post(
        "/api/images/",
        {"product_image": SimpleUploadedFile("p.jpg", images.jpeg(64, 48)), "type": "account"},
    ).json()
    with django_capture_on_commit_callbacks(execute=True):
        assert legacy.delete(f"/api/images/{created['id']}/").status_code == 204
    assert not Image.objects.exists()
    assert backend.keys() == set()


def test_deleting_the_owner_takes_the_files_too(
    api, user, backend, django_capture_on_commit_callbacks
):
    upload(api)
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    assert backend.keys() == set()
