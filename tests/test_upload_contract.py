"""POST /api/images/ as the contract in docs/api.md describes it, on both storages."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from images_app.models import Image

from . import images
from .conftest import client_for, fetch, stored_keys_of_rows

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("backend")]

URL_NAMES = {"ipad", "thumb", "image", "ipad_retina", "ebay", "thumb_retina", "original"}
BOXES = {"thumb": 150, "thumb_retina": 300, "ipad": 1024, "ipad_retina": 2048, "ebay": 1600}
LEGACY_400 = b"""{
    "error": {
        "fields": {
            "image": [
                "This field is required."
            ]
        },
        "description": "Serialization error",
        "key": "common.serializer_error"
    }
}"""


def upload_file(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def post(client, **fields):
    return client.post("/api/images/", fields, format="multipart")


def test_v12_upload_answers_the_legacy_shape(api, backend):
    response = post(api, image=upload_file(images.jpeg(4000, 3000)), type="product")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "urls", "type", "new"}
    assert body["id"] == Image.objects.get().pk > 0
    assert body["type"] == 0
    assert body["new"] is True
    assert set(body["urls"]) == URL_NAMES
    assert body["urls"]["image"] == body["urls"]["ipad"]


def test_every_url_is_absolute_and_serves_its_rendition(api, backend):
    source = images.jpeg(4000, 3000)
    urls = post(api, image=upload_file(source), type="product").json()["urls"]

    for name, box in BOXES.items():
        fetched = fetch(urls[name])
        assert fetched.status_code == 200, name
        assert fetched.headers["Content-Type"] == "image/jpeg"
        picture = images.decode(fetched.content)
        assert picture.format == "JPEG"
        assert max(picture.size) == box, name
        assert picture.size == (box, round(box * 3 / 4)), name
    original = fetch(urls["original"])
    assert original.status_code == 200
    assert original.content == source


@pytest.mark.parametrize(
    ("type_name", "index"), [("product", 0), ("account", 1), ("user", 2), ("category", 3)]
)
def test_type_is_answered_as_its_index(api, type_name, index):
    response = post(api, image=upload_file(images.jpeg(64, 48)), type=type_name)

    assert response.status_code == 200
    assert response.json()["type"] == index
    assert Image.objects.get().type == index


# version -> (file field, whether `type` is required, id sign)
VERSIONS = {
    1: ("product_image", False, -1),
    2: ("product_image", False, -1),
    3: ("product_image", True, -1),
    7: ("product_image", True, -1),
    8: ("image", True, 1),
    12: ("image", True, 1),
}


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_each_version_takes_its_own_fields(user, version):
    field, needs_type, sign = VERSIONS[version]
    client = client_for(user, version=version)
    response = post(client, **{field: upload_file(images.jpeg(64, 48))}, type="category")

    assert response.status_code == 200, response.content
    image = Image.objects.get()
    assert response.json()["id"] == sign * image.pk
    # Versions 1-2 have no type field: the image is a product image whatever is sent.
    assert response.json()["type"] == (3 if needs_type else 0)


@pytest.mark.parametrize(
    ("version", "sent", "missing"),
    [
        (8, "product_image", "image"),  # 7/8 boundary, one way
        (12, "product_image", "image"),
        (7, "image", "product_image"),  # and the other
        (3, "image", "product_image"),
    ],
)
def test_the_other_versions_file_field_is_not_accepted(user, version, sent, missing):
    client = client_for(user, version=version)
    response = post(client, **{sent: upload_file(images.jpeg(64, 48))}, type="product")

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "fields": {missing: ["This field is required."]},
            "description": "Serialization error",
            "key": "common.serializer_error",
        }
    }
    assert not Image.objects.exists()


@pytest.mark.parametrize(("version", "required"), [(2, False), (3, True)])
def test_type_is_required_from_version_3(user, version, required):
    client = client_for(user, version=version)
    response = post(client, product_image=upload_file(images.jpeg(64, 48)))

    if required:
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {"type": ["This field is required."]}
    else:
        assert response.status_code == 200


def test_an_unknown_type_names_the_choices_problem(api):
    response = post(api, image=upload_file(images.jpeg(64, 48)), type="banana")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"type": ['"banana" is not a valid choice.']}


def test_v12_upload_without_a_file_is_the_legacy_error_byte_for_byte(api):
    response = post(api, type="product")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.content == LEGACY_400


@pytest.mark.parametrize("header", [None, "12", " 12 ", "8"])
def test_a_missing_or_spaced_version_is_accepted(user, header):
    client = client_for(user, version=header)
    response = post(client, image=upload_file(images.jpeg(64, 48)), type="user")

    assert response.status_code == 200
    assert response.json()["id"] > 0


@pytest.mark.parametrize("header", ["abc", "0", "13", "-1", "7.5", "", "١٢", "+7", "99999999999"])
def test_an_invalid_version_is_406(user, header):
    client = client_for(user, version=header)
    response = post(client, image=upload_file(images.jpeg(64, 48)), type="user")

    assert response.status_code == 406
    error = response.json()["error"]
    assert error["key"] == "common.invalid_version"
    assert error["fields"] == {}
    assert "1 to 12" in error["description"]


def test_keys_are_random_and_never_use_the_client_filename(api, backend, user):
    evil = upload_file(images.jpeg(64, 48), name="../../etc/passwd.php", content_type="text/html")
    response = post(api, image=evil, type="account")

    assert response.status_code == 200
    image = Image.objects.get()
    pattern = rf"uploads/{user.pk}/account/[A-Za-z0-9_-]{{24}}/[a-z_]+\.(jpg|png)"
    assert all(re.fullmatch(pattern, key) for key in image.stored_keys()), image.stored_keys()
    assert backend.keys() == set(image.stored_keys())
    assert "passwd" not in str(response.json())


def test_two_uploads_of_the_same_file_get_distinct_keys(api):
    data = images.jpeg(64, 48)
    first = post(api, image=upload_file(data), type="product").json()
    second = post(api, image=upload_file(data), type="product").json()

    assert first["id"] != second["id"]
    assert set(first["urls"].values()).isdisjoint(second["urls"].values())


def test_the_row_records_what_was_stored(api):
    data = images.jpeg(640, 480)
    post(api, image=upload_file(data), type="product")
    image = Image.objects.get()

    assert (image.format, image.width, image.height, image.bytes) == ("JPEG", 640, 480, len(data))
    assert re.fullmatch(r"[0-9a-f]{64}", image.checksum)
    assert set(image.renditions) == set(BOXES)
    assert stored_keys_of_rows() == set(image.stored_keys())
