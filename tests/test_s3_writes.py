"""An upload's files on S3, each written in one PutObject, carry what django-storages' own save
would send: its object parameters, the Content-Type, its default ACL, under its location; the
original carries its row's checksum for S3 to verify and keep."""

import base64
import hashlib

import pytest
from botocore.config import Config
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from images_app.models import Image

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


def stored_checksum(backend, key: str) -> str | None:
    head = s3_client(backend.endpoint).head_object(
        Bucket=backend.bucket, Key=key, ChecksumMode="ENABLED"
    )
    return head.get("ChecksumSHA256")


def test_the_original_is_sent_with_the_rows_checksum_for_s3_to_verify(api, s3_with_parameters):
    exif = PILImage.Exif()
    exif[0x0112], exif[0x0110] = 6, "Secret Phone"  # orientation kept, camera model dropped
    sent = images.jpeg(1200, 900, exif=exif.tobytes())
    upload(api, sent, "photo.jpg")
    row = Image.objects.get()
    key = f"media/{row.original_key}"
    stored = (
        s3_client(s3_with_parameters.endpoint)
        .get_object(Bucket=s3_with_parameters.bucket, Key=key)["Body"]
        .read()
    )
    assert stored != sent and b"Secret Phone" not in stored  # the stripped copy is what S3 holds
    assert hashlib.sha256(stored).hexdigest() == row.checksum
    # S3 checks the body against the checksum sent with it and keeps it with the object, so
    # an operator can check a stored original against its row without downloading it.
    assert (
        stored_checksum(s3_with_parameters, key)
        == base64.b64encode(bytes.fromhex(row.checksum)).decode()
    )
    for name, rendition in row.renditions.items():  # no sha256 of their own: none claimed
        assert stored_checksum(s3_with_parameters, f"media/{rendition.key}") is None, name


def test_no_checksum_where_the_client_sends_them_only_when_required(api, s3_endpoint, settings):
    # AWS_REQUEST_CHECKSUM_CALCULATION=when_required is how deployments on S3-compatible stores
    # that refuse checksum headers turn them off: the app must not send one of its own there.
    backend = S3Backend(s3_endpoint, public_bucket(s3_endpoint))
    config = Config(request_checksum_calculation="when_required")
    settings.STORAGES = {**settings.STORAGES, "images": backend.config(client_config=config)}
    upload(api, images.jpeg(640, 480), "photo.jpg")
    row = Image.objects.get()
    assert backend.keys() == stored_keys_of_rows()
    assert stored_checksum(backend, row.original_key) is None
    backend.empty()
