"""HEIC and AVIF photos, as phones send them, through the API on both storages: accepted,
rendered upright as JPEG, the original served as sent less its location; hostile ones get
a 400 and leave nothing behind."""

import functools
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from images_app.models import Image
from images_app.rendering import fit_inside, strip_metadata

from .conftest import fetch
from .hostile import heif

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("backend")]

FORMATS = [
    pytest.param("HEIF", "heic", "image/heic", id="heic"),
    pytest.param("AVIF", "avif", "image/avif", id="avif"),
]


def test_the_pinned_decoders_can_make_and_read_both_formats():
    assert heif.HEIC_OK, "pillow-heif has no HEIC encoder/decoder here"
    assert heif.AVIF_OK, "Pillow has no AVIF support here"


BOXES = {"thumb": 150, "thumb_retina": 300, "ipad": 1024, "ebay": 1600}
UPRIGHT = (400, 300)  # as displayed; stored on its side, with orientation 6


@functools.cache
def phone_photo(fmt: str) -> bytes:
    """A 400x300 picture stored turned (as a phone held upright stores it), EXIF with GPS and
    orientation 6, XMP; HEIC as an iPhone writes it: a grid of tiles and a thumbnail."""
    stored = heif.picture(UPRIGHT).transpose(PILImage.Transpose.ROTATE_90)
    params = {"exif": heif.camera_exif(6), "xmp": heif.XMP}
    if fmt == "HEIF":
        params |= {"tile_size": 128, "thumbnails": [64]}
    return heif.encode(fmt, image=stored, **params)


def post(api, data: bytes, name: str):
    upload = SimpleUploadedFile(name, data, content_type="application/octet-stream")
    return api.post("/api/images/", {"image": upload, "type": "product"})


def decoded(url: str) -> PILImage.Image:
    response = fetch(url)
    assert response.status_code == 200, url
    assert response.headers["Content-Type"] == "image/jpeg"
    image = PILImage.open(io.BytesIO(response.content))
    image.load()
    return image


@pytest.mark.parametrize(("fmt", "extension", "content_type"), FORMATS)
def test_a_phone_photo_is_rendered_upright_as_jpeg(api, fmt, extension, content_type):
    response = post(api, phone_photo(fmt), f"IMG_0001.{extension.upper()}")

    assert response.status_code == 200, response.content
    urls = response.json()["urls"]
    for name, box in BOXES.items():
        picture = decoded(urls[name])
        assert picture.format == "JPEG" and not picture.getexif(), name
        assert picture.size == fit_inside(*UPRIGHT, box, box), name
    thumb = decoded(urls["thumb_retina"]).convert("RGB")
    corners = {(0.25, 0.25): (255, 0, 0), (0.75, 0.25): (0, 255, 0), (0.25, 0.75): (0, 0, 255)}
    for (fx, fy), expected in corners.items():
        pixel = thumb.getpixel((int(fx * thumb.width), int(fy * thumb.height)))
        assert all(abs(a - b) < 40 for a, b in zip(pixel, expected, strict=True)), (fx, fy)
    image = Image.objects.get()
    assert (image.format, image.width, image.height) == (fmt, *UPRIGHT)


@pytest.mark.parametrize(("fmt", "extension", "content_type"), FORMATS)
def test_the_original_is_served_as_sent_less_its_location(api, fmt, extension, content_type):
    data = phone_photo(fmt)
    assert heif.LATITUDE_BYTES in data and b"GPSLatitude" in data

    urls = post(api, data, "photo.jpg").json()["urls"]  # the filename is never trusted

    original = fetch(urls["original"])
    assert original.status_code == 200
    assert original.headers["Content-Type"] == content_type
    assert urls["original"].endswith(f"/original.{extension}")
    assert original.content == strip_metadata(data, fmt)
    assert len(original.content) == len(data)  # cleaned in place: every offset still right
    assert heif.LATITUDE_BYTES not in original.content
    assert b"GPSLatitude" not in original.content
    with PILImage.open(io.BytesIO(original.content)) as kept:
        assert kept.format == fmt
        assert kept.getexif().get_ifd(0x8825) == {}
        with PILImage.open(io.BytesIO(data)) as sent:
            assert kept.tobytes() == sent.tobytes()  # the same encoded pixels
    assert Image.objects.get().bytes == len(original.content)


def bomb() -> bytes:
    data = heif.avif()
    parts, primary = heif.items_of(data), heif.primary_of(data)
    first = next(part for part in parts if part.id == primary)
    huge = [heif.ispe(20000, 20000) if p[4:8] == b"ispe" else p for p in first.properties]
    return heif.build(heif.edit([first], primary, properties=huge), primary)


def unreadable_exif() -> bytes:
    data = heif.heic(exif=heif.camera_exif())
    parts = heif.items_of(data)
    junk = b"\0\0\0\x06Exif\0\0" + b"no TIFF header here"
    parts = [heif.edit([p], p.id, data=junk)[0] if p.type == b"Exif" else p for p in parts]
    return heif.build(parts, heif.primary_of(data))


def test_a_heic_with_an_unusual_exif_layout_is_accepted(api):
    # Only the orientation is kept, so EXIF nobody can read costs the file nothing.
    response = post(api, unreadable_exif(), "IMG_0003.HEIC")
    assert response.status_code == 200, response.content
    original = fetch(response.json()["urls"]["original"]).content
    assert b"no TIFF header here" not in original


def _sequence_only(data: bytes) -> bytes:
    """The file's ftyp and mdat around a movie box, with no meta box (no still picture)."""
    kinds = {data[at + 4 : at + 8]: at for at in _top_level(data)}
    ftyp, mdat = kinds[b"ftyp"], kinds[b"mdat"]
    moov = heif.box(b"moov", heif.box(b"mvhd", bytes(100)))
    return data[ftyp : ftyp + int.from_bytes(data[ftyp : ftyp + 4])] + moov + data[mdat:]


def _top_level(data: bytes):
    at = 0
    while at + 8 <= len(data):
        yield at
        at += int.from_bytes(data[at : at + 4])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (bomb, "Image is 400 megapixels; the limit is 60."),
        (
            lambda: heif.heic()[:-10],
            "Upload a valid image: this HEIC file is truncated or malformed.",
        ),
        (
            lambda: _sequence_only(heif.avif()),
            "Upload a still image: this AVIF file is an image sequence (an animation) "
            "without a still picture, which is not accepted.",
        ),
    ],
    ids=["pixel-bomb", "truncated", "sequence-without-a-still-picture"],
)
def test_hostile_files_get_a_400_and_leave_nothing(api, backend, make, message):
    response = post(api, make(), "IMG_0002.HEIC")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"] == {"image": [message]}
    assert not Image.objects.exists()
    assert backend.keys() == set()
