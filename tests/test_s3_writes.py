"""An upload's files on S3, each written in one PutObject, carry what django-storages' own save
would send: its object parameters, the Content-Type, its default ACL, under its location."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from . import images
from .conftest import S3Backend, public_bucket, s3_client, stored_keys_of_rows

pytestmark = pytest.mark.django_db

CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png"}


def upload(api, data: bytes, name: str) -> dict:
    sent = SimpleUploadedFile(name, data)
    response = api.post("/api/images/", {"image": sent, "type": "product"}, format="multipart")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def s3_with_parameters(s3_endpoint, settings):
    """S3 with a location, object parameters and a default ACL, as a deployment may set them."""
    backend = S3Backend(s3_endpoint, public_bucket(s3_endpoint))
    options = {
        "location": "media",
        "object_parameters": {
            "CacheControl": "public, max-age=600",
            "ContentDisposition": "inline",
        },
        "default_acl": "public-read",
    }
    settings.STORAGES = {**settings.STORAGES, "images": backend.config(**options)}
    yield backend
    backend.empty()


@pytest.mark.parametrize(("fmt", "name"), [("JPEG", "photo.jpg"), ("PNG", "cutout.png")])
def test_every_file_carries_the_storages_parameters(api, s3_with_parameters, fmt, name):
    data = images.jpeg(1200, 900) if fmt == "JPEG" else images.png_rgba(600, 400)
    upload(api, data, name)
    keys = s3_with_parameters.keys()
    assert len(keys) == 6 and all(key.startswith("media/uploads/") for key in keys)
    assert {key.removeprefix("media/") for key in keys} == stored_keys_of_rows()
    client = s3_client(s3_with_parameters.endpoint)
    for key in keys:
        head = s3_with_parameters.head(key)
        assert head["ContentType"] == CONTENT_TYPES[key.rsplit(".", 1)[1]], key
        assert head["CacheControl"] == "public, max-age=600", key
        assert head["ContentDisposition"] == "inline", key
        grants = client.get_object_acl(Bucket=s3_with_parameters.bucket, Key=key)["Grants"]
        readers = {grant["Grantee"].get("URI") for grant in grants if grant["Permission"] == "READ"}
        assert "http://acs.amazonaws.com/groups/global/AllUsers" in readers, key


def test_without_file_overwrite_djangos_save_still_refuses_a_taken_key(s3_endpoint, settings):
    # django-storages picks another name for a taken key; the app must not overwrite or rename.
    from django.core.files.storage import storages

    from images_app.storage import StorageFailure, write

    backend = S3Backend(s3_endpoint, public_bucket(s3_endpoint))
    settings.STORAGES = {**settings.STORAGES, "images": backend.config(file_overwrite=False)}
    storage = storages["images"]
    write(storage, "uploads/1/x.jpg", b"first", "image/jpeg")
    with pytest.raises(StorageFailure, match="refused the key"):
        write(storage, "uploads/1/x.jpg", b"second", "image/jpeg")
    assert backend.keys() == {"uploads/1/x.jpg"}
    body = s3_client(s3_endpoint).get_object(Bucket=backend.bucket, Key="uploads/1/x.jpg")
    assert body["Body"].read() == b"first"
    assert backend.head("uploads/1/x.jpg")["ContentType"] == "image/jpeg"
