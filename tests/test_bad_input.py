"""Bad input gets a clear 400 in the envelope, and nothing is kept; the corpus never gets a 5xx."""

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from images_app.models import Image

from . import images
from .conftest import client_for, stored_keys_of_rows

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("backend")]

CORPUS = images.PILLOW_IMAGES
NOT_AN_IMAGE = (
    "Upload a valid image: this file is not a JPEG, PNG, GIF, WebP, AVIF or HEIC image, "
    "or it is corrupted."
)

BAD_FILES = {
    "text": b"hello, I am not an image\n",
    "html": b"<!doctype html><html><script>alert(1)</script></html>",
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "truncated jpeg": images.jpeg(640, 480)[:1500],
    "truncated png": images.encode(images.photo(640, 480), "PNG")[:2000],
    "random bytes": bytes(range(256)) * 40,
    "bmp": images.encode(images.photo(64, 48), "BMP"),
    "tiff": images.encode(images.photo(64, 48), "TIFF"),
}


def post(client, field: str, data: bytes, **fields):
    upload = SimpleUploadedFile("photo.jpg", data, content_type="image/jpeg")
    return client.post("/api/images/", {field: upload, **fields})


def assert_refused(response, field: str) -> str:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["key"] == "common.serializer_error"
    assert error["description"] == "Serialization error"
    assert list(error["fields"]) == [field]
    return error["fields"][field][0]


def assert_nothing_kept(backend) -> None:
    assert not Image.objects.exists()
    assert backend.keys() == set()


@pytest.mark.parametrize("name", sorted(BAD_FILES))
@pytest.mark.parametrize(("version", "field"), [(12, "image"), (7, "product_image")])
def test_a_file_that_is_not_an_accepted_image_is_refused(user, backend, name, version, field):
    client = client_for(user, version=version)
    response = post(client, field, BAD_FILES[name], type="product")

    message = assert_refused(response, field)
    truncated = f"Upload a valid image: this {name.split()[-1].upper()} file is truncated."
    assert message in (
        {NOT_AN_IMAGE, truncated} if name.startswith("truncated") else {NOT_AN_IMAGE}
    )
    assert_nothing_kept(backend)


def test_an_empty_file_is_refused(api, backend):
    assert assert_refused(post(api, "image", b"", type="product"), "image") == (
        "The submitted file is empty."
    )
    assert_nothing_kept(backend)


def test_a_decompression_bomb_is_refused_from_its_header(api, backend):
    bomb = images.png_bomb(12_000, 12_000)
    assert len(bomb) < 100_000
    message = assert_refused(post(api, "image", bomb, type="product"), "image")

    assert message == "Image is 144 megapixels; the limit is 60."
    assert_nothing_kept(backend)


def test_the_pixel_limit_is_a_setting(api, backend, settings):
    settings.IMAGES_APP = {"MAX_PIXELS": 100_000}
    message = assert_refused(post(api, "image", images.jpeg(640, 480), type="product"), "image")

    assert message == "Image is 0.31 megapixels; the limit is 0.1."
    assert_nothing_kept(backend)


def test_a_file_over_the_byte_limit_is_refused_naming_the_limit(api, backend, settings):
    settings.IMAGES_APP = {"MAX_BYTES": 50_000}
    data = images.encode(PILImage.effect_noise((300, 300), 64), "PNG")
    assert len(data) > 50_000
    message = assert_refused(post(api, "image", data, type="product"), "image")

    assert re.fullmatch(r"File is [0-9.]+ (KiB|MiB); the limit is 48\.8 KiB\.", message), message
    assert_nothing_kept(backend)


def test_the_server_keeps_serving_after_bad_input(api, backend):
    for data in BAD_FILES.values():
        assert post(api, "image", data, type="product").status_code == 400
    assert post(api, "image", images.jpeg(64, 48), type="product").status_code == 200


def corpus_rows() -> list[dict]:
    return json.loads((CORPUS / "manifest.json").read_text())


CHUNKS = 6


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_the_pillow_corpus_never_gets_a_5xx_and_every_decodable_file_is_accepted(
    api, backend, chunk
):
    failures = []
    for row in corpus_rows()[chunk::CHUNKS]:
        response = post(api, "image", (CORPUS / row["file"]).read_bytes(), type="product")
        expected = 200 if images.shown(row) else 400
        if response.status_code != expected:
            failures.append((row["file"], response.status_code, response.content[:200]))
    assert failures == []
    assert backend.keys() == stored_keys_of_rows()
    decodable = sum(images.shown(row) for row in corpus_rows()[chunk::CHUNKS])
    assert Image.objects.count() == decodable
