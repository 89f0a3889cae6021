"""Listing a big shop: page numbers as legacy clients use them, ``?cursor=`` for walking it all.

What makes a deep page slow is work the database does (an OFFSET walking rows, a count) and
work the app does per image (a storage ``url()`` per rendition); both are counted here, the
milliseconds are ``make scalebench``'s.
"""

import re
import uuid
from datetime import timedelta

import pytest
from django.core.files.storage import StorageHandler
from django.db import connection
from django.test.utils import CaptureQueriesContext

from images_app import pagination
from images_app.models import Image, ImageType
from images_app.storage import file_url

from .conftest import client_for

pytestmark = pytest.mark.django_db
TABLE = Image._meta.db_table
RENDITIONS = {
    name: {"key": f"{name}.jpg", "width": 10, "height": 10, "format": "JPEG", "bytes": 1}
    for name in ("thumb", "thumb_retina", "ipad", "ipad_retina", "ebay")
}


def seed(owner, count: int, *, same_time: bool = False) -> list[Image]:
    """Rows without files, newest first as the API lists them; ``same_time``: one timestamp."""
    made = []
    for _ in range(count):
        prefix = f"uploads/{owner.pk}/product/{uuid.uuid4().hex}"
        renditions = {
            name: {**entry, "key": f"{prefix}/{entry['key']}"} for name, entry in RENDITIONS.items()
        }
        made.append(
            Image(
                owner=owner,
                type=ImageType.PRODUCT,
                key_prefix=prefix,
                original_key=f"{prefix}/original.jpg",
                format="JPEG",
                width=10,
                height=10,
                bytes=1,
                checksum="0" * 64,
                renditions=renditions,
            )
        )
    made = Image.objects.bulk_create(made)
    if same_time:
        Image.objects.filter(owner=owner).update(created=made[0].created)
    return list(Image.objects.filter(owner=owner).order_by("-created", "-id"))


def ids(page: dict) -> list[int]:
    return [item["id"] for item in page["results"]]


def walk(client, url: str, link: str = "next") -> list[dict]:
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        pages.append(response.json())
        url = pages[-1][link]
    return pages


@pytest.mark.parametrize("same_time", [False, True], ids=["distinct-times", "one-timestamp"])
def test_cursor_walks_every_image_once_newest_first(user, other_user, same_time):
    mine = seed(user, 11, same_time=same_time)
    seed(other_user, 3)

    pages = walk(client_for(user), "/api/images/?cursor=&page_size=4")

    assert [len(page["results"]) for page in pages] == [4, 4, 3]
    assert [i for page in pages for i in ids(page)] == [image.pk for image in mine]
    assert all("count" not in page for page in pages)
    assert pages[0]["previous"] is None and pages[-1]["next"] is None


def test_cursor_previous_links_walk_back(user):
    mine = seed(user, 7)
    client = client_for(user)
    forward = walk(client, "/api/images/?cursor=&page_size=3")

    backward = walk(client, forward[-1]["previous"], link="previous")

    assert [ids(page) for page in backward] == [ids(page) for page in forward[-2::-1]]
    assert ids(backward[-1]) == [image.pk for image in mine[:3]]


def test_cursor_pages_neither_count_nor_offset(user):
    seed(user, 9)
    client = client_for(user)
    second = client.get("/api/images/?cursor=&page_size=3").json()["next"]

    with CaptureQueriesContext(connection) as captured:
        assert client.get(second).status_code == 200

    sqls = [q["sql"] for q in captured.captured_queries if TABLE in q["sql"]]
    assert len(sqls) == 1, sqls
    assert "COUNT(" not in sqls[0].upper() and "OFFSET" not in sqls[0].upper()
    assert re.search(rf'"{TABLE}"\."created" <= ', sqls[0])  # where the index scan starts


@pytest.mark.parametrize("cursor", ["nonsense", "eyJ4Ijox", "WyIyMDI2IiwxLDBd", "W10"])
def test_a_cursor_the_api_did_not_give_is_a_404_envelope(user, cursor):
    response = client_for(user).get(f"/api/images/?cursor={cursor}")

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["key"] == "common.not_found"
    assert "?cursor=" in error["description"]


def test_page_numbers_stay_the_default_with_count(user):
    mine = seed(user, 5)

    first = client_for(user).get("/api/images/?page_size=2").json()

    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 5 and ids(first) == [image.pk for image in mine[:2]]
    assert "page=2" in first["next"]


def test_deep_pages_fetch_ids_first_and_match_plain_offsets(user, monkeypatch):
    mine = seed(user, 9)
    client = client_for(user)
    plain = [ids(page) for page in walk(client, "/api/images/?page_size=2")]
    monkeypatch.setattr(pagination, "LATE_ROW_OFFSET", 2)

    with CaptureQueriesContext(connection) as captured:
        deep = [ids(page) for page in walk(client, "/api/images/?page_size=2")]

    assert deep == plain and [i for page in deep for i in page] == [image.pk for image in mine]
    sqls = [q["sql"] for q in captured.captured_queries if TABLE in q["sql"]]
    assert any(re.match(rf'SELECT "{TABLE}"\."id"( AS "\w+")? FROM', sql) for sql in sqls)


def test_cursor_survives_images_added_while_walking(user):
    seed(user, 4)
    client = client_for(user)
    first = client.get("/api/images/?cursor=&page_size=2").json()
    newer = seed(user, 1)[0]  # newest: before the walk's position, not in later pages
    Image.objects.filter(pk=newer.pk).update(created=newer.created + timedelta(days=1))

    rest = walk(client, first["next"])

    assert newer.pk not in [i for page in rest for i in ids(page)]
    assert len(ids(first)) + sum(len(ids(page)) for page in rest) == 4


# Rendition URLs without a storage call per URL


@pytest.mark.usefixtures("backend")
def test_list_urls_match_the_storage_without_asking_it_per_key(user, monkeypatch):
    from images_app.storage import get_storage

    mine = seed(user, 3)
    storage = get_storage()
    expected = {image.pk: storage.url(image.original_key) for image in mine}
    calls = []
    original_url = type(storage).url
    monkeypatch.setattr(
        type(storage), "url", lambda self, name: calls.append(name) or original_url(self, name)
    )

    page = client_for(user).get("/api/images/").json()

    for item in page["results"]:
        assert item["urls"]["original"].endswith(expected[item["id"]])
    assert len(calls) <= 2  # the two probes that learn the storage's base URL, at most


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"custom_domain": "cdn.example.com"},
        {"location": "media/v2"},
        {"querystring_auth": True},  # signed: asked per key
    ],
    ids=["bucket", "custom-domain", "location", "signed"],
)
def test_file_url_is_what_s3_would_answer(s3_endpoint, options):
    from .conftest import S3Backend

    storage = StorageHandler({"s": S3Backend(s3_endpoint, "bucket-x").config(**options)})["s"]
    key = "uploads/12/product/AbC-_9xY/thumb_retina.jpg"

    fast, slow = file_url(storage, key), storage.url(key)

    if options.get("querystring_auth"):
        assert fast.split("?")[0] == slow.split("?")[0] and "Signature" in fast
    else:
        assert fast == slow


@pytest.mark.parametrize("key", ["a b/c.jpg", "../x.jpg", "uploads/é.jpg", "./a.jpg"])
def test_keys_a_url_must_escape_go_through_the_storage(tmp_path, key):
    storage = StorageHandler(
        {
            "s": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(tmp_path), "base_url": "/media/"},
            }
        }
    )["s"]

    assert file_url(storage, key) == storage.url(key)
