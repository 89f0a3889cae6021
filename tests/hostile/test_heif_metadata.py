"""HEIC and AVIF originals: rewritten in place to the allow-list. The pictures' bytes never
change, no offset moves, and nothing else readable is left: EXIF but its orientation, XMP,
names, unknown boxes and properties, bytes no shown picture claims."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from images_app.rendering import InvalidImage, isobmff, strip_metadata
from images_app.rendering.containers import Budget
from images_app.rendering.metadata import Work
from images_app.rendering.metadata.heif import shown_items

from . import heif
from .corpus import inspect

PLACE = b"Ouagadougou 12.37N 1.52W"


def decoded(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as image:
        return image.mode, image.size, image.tobytes()


def parsed(data: bytes) -> isobmff.Heif:
    return isobmff.parse(data, Budget(data))


def raw_exif(data: bytes) -> dict:
    """The EXIF item's own tags, as stored (decoders report the orientation differently)."""
    (item,) = [item for item in parsed(data).items.values() if item.type == b"Exif"]
    exif = Image.Exif()
    exif.load(isobmff.payload(data, item)[4:])
    return dict(exif)


def picture_bytes(data: bytes) -> list[bytes]:
    heif_ = parsed(data)
    return [isobmff.payload(data, item) for item in shown_items(heif_)]


def parts_of(data: bytes) -> tuple[list[heif.Part], int]:
    return heif.items_of(data), heif.primary_of(data)


def with_part(parts: list[heif.Part], kind: bytes, **changes) -> list[heif.Part]:
    return [heif.edit([p], p.id, **changes)[0] if p.type == kind else p for p in parts]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: heif.heic(exif=heif.camera_exif(), xmp=heif.XMP), id="heic"),
        pytest.param(lambda: heif.phone_heic((96, 64)), id="heic-grid-thumbnail"),
        pytest.param(lambda: heif.avif(exif=heif.camera_exif(), xmp=heif.XMP), id="avif"),
    ],
)
def test_exif_becomes_orientation_only_and_xmp_goes_in_place(make):
    original = make()
    fmt = inspect(original).format
    assert heif.LATITUDE_BYTES in original and b"GPSLatitude" in original

    stripped = strip_metadata(original, fmt)

    assert len(stripped) == len(original)  # in place: no box size, no item offset moved
    assert heif.LATITUDE_BYTES not in stripped and b"GPSLatitude" not in stripped
    assert b"Apple" not in stripped
    # HEIC keeps the tag as stored; Pillow's AVIF encoder moved it into irot, which stays.
    assert raw_exif(stripped) == ({0x0112: 6} if fmt == "HEIF" else {})
    assert picture_bytes(stripped) == picture_bytes(original)
    assert decoded(stripped) == decoded(original)
    assert inspect(stripped) == inspect(original)


def test_a_hidden_items_extent_can_not_keep_an_xmp_uuid_box_alive():
    parts, primary = parts_of(heif.heic())
    xmp_box = heif.box(b"uuid", bytes(16) + heif.XMP + PLACE)
    hidden = heif.Part(99, b"hvc1", b"", hidden=True)
    built = heif.build([*parts, hidden], primary, top_extra=xmp_box)
    # Point the hidden item's one extent (iloc: offset, length) at the XMP in the uuid box.
    entry = struct.pack(">HHHH", 99, 0, 0, 1)
    at = built.index(entry) + len(entry)
    where = struct.pack(">II", built.index(heif.XMP), len(heif.XMP) + len(PLACE))
    original = built[:at] + where + built[at + 8 :]
    assert isobmff.payload(original, parsed(original).items[99]) == heif.XMP + PLACE

    stripped = strip_metadata(original, "HEIF")

    assert b"GPSLatitude" not in stripped and PLACE not in stripped and b"uuid" not in stripped
    assert decoded(stripped) == decoded(original)


@pytest.mark.parametrize(
    "payload",
    [
        b"\0\0\0\x06Exif\0\0" + b"not a TIFF header at all " + PLACE,
        b"\0\0\0\0Exif\0\0MM\0*\0\0\0\x08" + bytes(20) + PLACE,  # the offset misses the header
        b"\0\0",
        b"\0\0\0\x06Exif\0\0MM\0*\x7f\xff\xff\xff" + PLACE,  # IFD0 far beyond the block
    ],
    ids=["garbage", "offset-lies", "cut-short", "ifd-beyond"],
)
def test_an_unusual_exif_layout_is_accepted_and_left_empty(payload):
    parts, primary = parts_of(heif.heic(exif=heif.camera_exif()))
    original = heif.build(with_part(parts, b"Exif", data=payload), primary)
    inspect(original)  # the probe accepts it, and so does the rewrite

    stripped = strip_metadata(original, "HEIF")

    assert PLACE not in stripped and len(stripped) == len(original)
    assert raw_exif(stripped) == {} or len(payload) < 24
    assert decoded(stripped) == decoded(original)


def test_compressed_or_unknown_mime_items_are_zeroed_not_refused():
    parts, primary = parts_of(heif.heic(xmp=heif.XMP))
    xmp = b"application/rdf+xml\0deflate"  # content type, then content encoding
    original = heif.build(with_part(parts, b"mime", content_type=xmp), primary)
    stripped = strip_metadata(original, "HEIF")
    assert b"GPSLatitude" not in stripped and b"rdf+xml" not in stripped
    assert decoded(stripped) == decoded(original)


def test_boxes_nobody_reads_become_free_and_a_trailing_video_is_cut_off():
    parts, primary = parts_of(heif.heic())
    vendor = heif.box(b"uuid", bytes(16) + heif.XMP)
    video = heif.box(b"mpvd", b"\0\0\0\x18ftypmp42 ... GPS in its own moov")
    original = heif.build(parts, primary, meta_extra=vendor, top_extra=vendor, after=video)
    stripped = strip_metadata(original, "HEIF")
    assert b"GPSLatitude" not in stripped and b"ftypmp42" not in stripped
    assert stripped == strip_metadata(original[: -len(video)], "HEIF")
    assert len(stripped) == len(original) - len(video)
    assert b"uuid" not in stripped and stripped.count(b"free") == 2  # same sizes, now empty
    assert decoded(stripped) == decoded(original)


def test_names_and_unknown_properties_are_blanked_known_ones_kept():
    parts, primary = parts_of(heif.heic(exif=heif.camera_exif()))
    udes = heif.full_box(b"udes", b"en\0" + PLACE + b"\0a description\0tags\0")
    first = next(part for part in parts if part.id == primary)
    parts = heif.edit(parts, primary, properties=[*first.properties, udes])
    original = heif.build(parts, primary)
    stripped = strip_metadata(original, "HEIF")
    assert PLACE not in stripped and b"udes" not in stripped
    assert b"colr" in stripped and b"ispe" in stripped and b"hvcC" in stripped
    assert decoded(stripped) == decoded(original)


def test_item_names_are_blanked():
    original = heif.avif(exif=heif.camera_exif())
    assert b"av01Color\0" in original  # libavif names its items
    stripped = strip_metadata(original, "AVIF")
    assert b"av01\0\0\0\0\0\0" in stripped and b"Color" not in stripped
    assert decoded(stripped) == decoded(original)


def test_exif_sharing_bytes_with_a_picture_leaves_the_picture_alone():
    parts, primary = parts_of(heif.heic(exif=heif.camera_exif()))
    built = heif.build(parts, primary)
    exif = next(part for part in parts if part.type == b"Exif")
    entry = struct.pack(">HHHH", exif.id, 0, 0, 1)  # iloc: id, method, data ref, extents
    at = built.index(entry) + len(entry)
    overlapping = built[:at] + struct.pack(">I", built.index(parts[0].data)) + built[at + 4 :]
    stripped = strip_metadata(overlapping, "HEIF")
    assert heif.LATITUDE_BYTES not in stripped  # the old block, no item's any more: zeroed
    assert picture_bytes(stripped) == picture_bytes(overlapping)
    assert decoded(stripped) == decoded(overlapping)


def test_a_file_that_is_not_heif_is_refused_as_invalid_not_a_server_error():
    for junk in (b"", b"....ftypavif", b"\0\0\0\x10ftypheic\0\0\0\0"):
        with pytest.raises(InvalidImage, match="metadata could not be read safely"):
            strip_metadata(junk, "AVIF")


def test_unclaimed_bytes_in_a_big_mdat_cost_one_pass():
    parts, primary = parts_of(heif.heic(exif=heif.camera_exif()))
    junk = heif.Part(77, b"mime", PLACE * 40_000, content_type=b"text/plain")
    original = heif.build([*parts, junk], primary)
    work = Work()
    stripped = strip_metadata(original, "HEIF", work=work)
    assert PLACE not in stripped
    assert work.copied <= 2 * len(original) and work.steps <= 1000


def _iloc(entries: list[tuple[int, int, int]]) -> bytes:
    rows = b"".join(struct.pack(">HHHHII", id_, 0, 0, 1, at, size) for id_, at, size in entries)
    return heif.full_box(b"iloc", bytes([0x44, 0]) + struct.pack(">H", len(entries)) + rows, 1)


def test_many_exif_items_over_one_big_extent_cost_one_pass():
    parts, primary = parts_of(heif.heic(exif=heif.camera_exif()))
    big = b"\0\0\0\x06" + heif.camera_exif() + bytes(2_000_000)
    parts = with_part(parts, b"Exif", data=big)
    exif_id = next(part.id for part in parts if part.type == b"Exif")
    extra = [heif.Part(1000 + n, b"Exif") for n in range(500)]  # all over the big one
    dummy = _iloc([(part.id, 0, 0) for part in [*parts, *extra]])
    mdat = heif.build([*parts, *extra], primary, iloc=dummy).rindex(b"mdat") + 4
    entries, at = [], mdat
    for part in parts:
        entries.append((part.id, at, len(part.data)))
        at += len(part.data)
    where = next(entry[1:] for entry in entries if entry[0] == exif_id)
    entries += [(part.id, *where) for part in extra]
    original = heif.build([*parts, *extra], primary, iloc=_iloc(entries))
    work = Work()

    stripped = strip_metadata(original, "HEIF", work=work)

    assert work.copied <= 2 * len(original), work.copied
    assert heif.LATITUDE_BYTES not in stripped and raw_exif_first(stripped) == {0x0112: 6}
    assert decoded(stripped) == decoded(original)


def raw_exif_first(data: bytes) -> dict:
    item = next(item for item in parsed(data).items.values() if item.type == b"Exif")
    exif = Image.Exif()
    exif.load(isobmff.payload(data, item, 64)[4:])
    return dict(exif)
