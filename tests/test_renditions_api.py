"""What the renditions look like, fetched through their URLs as a client would."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from images_app.models import Image

from . import images
from .conftest import fetch

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("backend")]

BOXES = {"thumb": 150, "thumb_retina": 300, "ipad": 1024, "ipad_retina": 2048, "ebay": 1600}


def upload(api, data: bytes) -> dict:
    response = api.post("/api/images/", {"image": SimpleUploadedFile("x", data), "type": "product"})
    assert response.status_code == 200, response.content
    return response.json()["urls"]


def fetched_image(url: str) -> PILImage.Image:
    response = fetch(url)
    assert response.status_code == 200
    return images.decode(response.content)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((4000, 3000), {"thumb": (150, 112), "ipad": (1024, 768), "ebay": (1600, 1200)}),
        ((3000, 4000), {"thumb": (112, 150), "ipad_retina": (1536, 2048)}),
        ((1200, 900), {"thumb_retina": (300, 225), "ipad": (1024, 768), "ebay": (1200, 900)}),
        ((100, 80), {"thumb": (100, 80), "ipad_retina": (100, 80)}),  # never upscaled
        ((1, 1), {"thumb": (1, 1), "ipad": (1, 1)}),
        ((5000, 10), {"thumb": (150, 1), "ipad_retina": (2048, 4)}),  # never zero-sized
    ],
)
def test_renditions_fit_their_box_keep_aspect_and_never_upscale(api, size, expected):
    urls = upload(api, images.jpeg(*size))

    for name, dimensions in expected.items():
        assert fetched_image(urls[name]).size == dimensions, name


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(api, orientation):
    urls = upload(api, images.jpeg(400, 200, orientation=orientation))

    thumb = fetched_image(urls["thumb"])
    assert thumb.size == ((150, 75) if orientation < 5 else (75, 150))
    # The marked corner of the photo lands where a viewer honouring the tag would show it.
    corner = {
        1: (0, 0),
        2: (1, 0),
        3: (1, 1),
        4: (0, 1),
        5: (0, 0),
        6: (1, 0),
        7: (1, 1),
        8: (0, 1),
    }
    x, y = corner[orientation]
    red, green, blue = thumb.getpixel((x * (thumb.width - 3) + 1, y * (thumb.height - 3) + 1))
    assert red > 180 and green < 80 and blue < 80, (orientation, (red, green, blue))
    assert not thumb.getexif(), "renditions carry no metadata"
    assert Image.objects.get().width == (400 if orientation < 5 else 200)


def test_transparency_gives_png_renditions_and_keeps_the_alpha(api):
    urls = upload(api, images.png_rgba(640, 480))

    for name in BOXES:
        picture = fetched_image(urls[name])
        assert picture.format == "PNG", name
        assert picture.mode in ("RGBA", "LA"), name
        assert picture.getpixel((0, 0))[-1] == 0, "the transparent corner stays transparent"
    assert fetch(urls["thumb"]).headers["Content-Type"] == "image/png"


def test_opaque_rgba_is_rendered_as_jpeg(api):
    data = images.encode(images.photo(300, 200).convert("RGBA"), "PNG")
    urls = upload(api, data)

    assert fetched_image(urls["thumb"]).format == "JPEG"
    assert fetched_image(urls["original"]).format == "PNG"


@pytest.mark.parametrize(
    ("fmt", "params"),
    [("GIF", {}), ("WEBP", {"quality": 90}), ("PNG", {}), ("JPEG", {"progressive": True})],
)
def test_every_accepted_format_renders(api, fmt, params):
    data = images.encode(images.photo(500, 400), fmt, **params)
    urls = upload(api, data)

    assert fetched_image(urls["ipad"]).size == (500, 400)
    original = fetch(urls["original"])
    assert original.content == data
    assert original.headers["Content-Type"] == PILImage.MIME[fmt]


def test_renditions_carry_no_metadata(api):
    source = images.photo(800, 600)
    exif = PILImage.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    data = images.encode(source, "JPEG", exif=exif.tobytes(), icc_profile=b"", comment=b"secret")
    urls = upload(api, data)

    for name in BOXES:
        raw = fetch(urls[name]).content
        assert b"CameraMaker" not in raw and b"secret" not in raw, name
        assert not images.decode(raw).getexif(), name
