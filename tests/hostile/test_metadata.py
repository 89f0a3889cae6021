"""strip_location: no location left, and nothing else touched (pixels, orientation, tags)."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from images_app.rendering import strip_location
from images_app.rendering.containers import SOS, jpeg_segments
from images_app.rendering.metadata import clean_exif

from .corpus import encode, gif, jpeg_with_segments, segment, tiff_ifd

pytestmark = pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")

LATITUDE = (52.0, 31.0, 12.5)
# How the latitude sits in the file: three big-endian rationals (Pillow writes "MM").
LATITUDE_BYTES = struct.pack(">6I", 52, 1, 31, 1, 25, 2)
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>52,31.2N</exif:GPSLatitude></x:xmpmeta>'
)


def camera_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 when shown
    exif[0x010F] = "Canon"
    exif.get_ifd(0x8769)[0x9003] = "2024:01:01 10:00:00"  # DateTimeOriginal, in the Exif IFD
    exif[0x8825] = {1: "N", 2: LATITUDE, 3: "E", 4: (13.0, 24.0, 36.75)}
    return exif


def decoded(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as image:
        return image.mode, image.size, image.tobytes()


def scan_data(jpeg: bytes) -> bytes:
    """From the first SOS through EOI: the entropy-coded data, which must never change."""
    start = next(block.start for block in jpeg_segments(jpeg) if block.kind == SOS)
    return jpeg[start:]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_gps_goes_and_everything_else_stays(fmt):
    original = encode(fmt, (40, 20), exif=camera_exif().tobytes())
    assert LATITUDE_BYTES in original

    stripped = strip_location(original, fmt)

    assert LATITUDE_BYTES not in stripped
    with Image.open(io.BytesIO(stripped)) as image:
        exif = image.getexif()
        assert exif.get_ifd(0x8825) == {}
        assert (exif[0x0112], exif[0x010F]) == (6, "Canon")
        assert exif.get_ifd(0x8769)[0x9003] == "2024:01:01 10:00:00"
    assert decoded(stripped) == decoded(original)
    assert len(stripped) == len(original)  # removed in place: no offset anywhere moved


def test_jpeg_scan_data_is_byte_identical():
    original = encode("JPEG", (64, 48), exif=camera_exif().tobytes(), xmp=XMP, progressive=True)
    stripped = strip_location(original, "JPEG")
    assert scan_data(stripped) == scan_data(original)
    assert b"GPSLatitude" not in stripped


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("JPEG", {}),
        ("JPEG", {"progressive": True, "icc_profile": b"not really a profile"}),
        ("PNG", {}),
        ("PNG", {"pnginfo": PngInfo()}),
        ("GIF", {"comment": b"hello"}),
        ("WEBP", {}),
        ("WEBP", {"lossless": True, "icc_profile": b"icc"}),
        ("GIF", {"save_all": True, "append_images": [Image.new("RGB", (24, 16))]}),
        ("PNG", {"save_all": True, "append_images": [Image.new("RGB", (24, 16))]}),
        ("WEBP", {"save_all": True, "append_images": [Image.new("RGB", (24, 16))]}),
    ],
)
def test_files_without_location_come_back_byte_identical(fmt, params):
    original = encode(fmt, **params)
    assert strip_location(original, fmt) == original


def test_jpeg_xmp_and_iptc_are_dropped():
    iptc = segment(0xED, b"Photoshop 3.0\0" + b"8BIM\x04\x04\0\0\0\0\0\x0a\x1c\x02\x5a\0\x05Paris")
    original = encode("JPEG", exif=camera_exif().tobytes(), xmp=XMP)
    original = jpeg_with_segments(original, iptc)
    stripped = strip_location(original, "JPEG")
    assert b"GPSLatitude" not in stripped and b"Paris" not in stripped
    assert decoded(stripped) == decoded(original)


def test_png_xmp_and_raw_profiles_are_dropped():
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    info.add_text("Raw profile type exif", "exif\n  20\n" + LATITUDE_BYTES.hex(), zip=True)
    info.add_text("Comment", "kept")
    original = encode("PNG", pnginfo=info)
    stripped = strip_location(original, "PNG")
    with Image.open(io.BytesIO(stripped)) as image:
        assert image.text == {"Comment": "kept"}  # Pillow checks every CRC on the way
    assert decoded(stripped) == decoded(original)


def test_webp_xmp_is_dropped_with_its_flag_and_the_riff_size_right():
    original = encode("WEBP", exif=camera_exif().tobytes(), xmp=XMP)
    stripped = strip_location(original, "WEBP")
    assert b"XMP " not in stripped and b"GPSLatitude" not in stripped
    assert struct.unpack_from("<I", stripped, 4)[0] == len(stripped) - 8
    vp8x_flags = stripped[stripped.index(b"VP8X") + 8]
    assert (vp8x_flags & 0x04, vp8x_flags & 0x08) == (0, 0x08)  # no XMP, EXIF still there
    assert decoded(stripped) == decoded(original)
    with Image.open(io.BytesIO(stripped)) as image:
        assert image.getexif()[0x0112] == 6


def test_gif_xmp_extension_is_dropped():
    xmp_extension = b"!\xff\x0bXMP DataXMP" + bytes([len(XMP)]) + XMP + b"\x00"
    original = gif(4, 4, 2, before=xmp_extension)
    stripped = strip_location(original, "GIF")
    assert stripped == gif(4, 4, 2)


def test_a_bad_segment_length_does_not_hide_the_exif_behind_it():
    original = encode("JPEG", exif=camera_exif().tobytes())
    app0 = original.index(b"\xff\xe0")
    original = original[: app0 + 2] + b"\0\0" + original[app0 + 4 :]  # Pillow reads on
    with Image.open(io.BytesIO(original)) as image:
        assert image.getexif().get_ifd(0x8825)
    stripped = strip_location(original, "JPEG")
    assert LATITUDE_BYTES not in stripped
    assert decoded(stripped) == decoded(original)


def test_appended_files_go_mpo_frames_and_motion_photo_videos_alike():
    images = [Image.effect_noise((24, 16), 60).convert("RGB") for _ in range(2)]
    exif = camera_exif().tobytes()
    buffer = io.BytesIO()
    images[0].save(buffer, "MPO", save_all=True, append_images=images[1:], exif=exif)
    original = buffer.getvalue() + b"ftypmp42 ... a video with its own GPS box"
    stripped = strip_location(original, "MPO")
    assert stripped.count(b"\xff\xd8") == 1 and b"MPF\0" not in stripped
    assert b"ftypmp42" not in stripped and LATITUDE_BYTES not in stripped
    with Image.open(io.BytesIO(stripped)) as image:
        assert image.format == "JPEG" and image.getexif()[0x0112] == 6
    assert decoded(stripped) == decoded(original)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_junk_after_the_image_goes(fmt):
    original = encode(fmt, mode="P" if fmt == "GIF" else "RGB")
    assert strip_location(original + b"<script>alert(1)</script>", fmt) == original


def test_gps_pointer_in_the_thumbnail_ifd_goes_too():
    gps = struct.pack("<H", 1) + struct.pack("<HHII", 2, 5, 3, 200) + bytes(4)
    ifd1 = struct.pack("<H", 1) + struct.pack("<HHII", 0x8825, 4, 1, 60) + bytes(4)
    tiff = tiff_ifd("<", [(0x0112, 3, 1, 3)], next_offset=26) + ifd1 + bytes(60 - 44) + gps
    tiff = tiff.ljust(200, b"\0") + LATITUDE_BYTES[:24]
    cleaned = clean_exif(tiff)
    assert len(cleaned) == len(tiff) and LATITUDE_BYTES[:24] not in cleaned
    assert struct.pack("<H", 0x8825) not in cleaned[26:40]


def test_unparseable_exif_keeps_only_its_orientation():
    whole = tiff_ifd("<", [(0x0112, 3, 1, 6), (0x8825, 4, 1, 38)])
    cut = whole[:-16]  # IFD0 says two entries; the GPS one and the next pointer are gone
    cleaned = clean_exif(b"Exif\0\0" + cut)
    exif = Image.Exif()
    exif.load(cleaned)
    assert dict(exif) == {0x0112: 6}


@pytest.mark.parametrize("junk", [b"", b"Exif\0\0", b"Exif\0\0" + bytes(64), b"XX*\0garbage"])
def test_exif_nobody_can_read_is_dropped(junk):
    assert clean_exif(junk) is None


def test_a_jpeg_with_unreadable_exif_loses_the_segment_not_the_image():
    original = encode("JPEG")
    broken = jpeg_with_segments(original, segment(0xE1, b"Exif\0\0" + bytes(64)))
    assert strip_location(broken, "JPEG") == original


def test_formats_it_cannot_clean_fail_loudly():
    with pytest.raises(ValueError, match="can't clean 'TIFF'"):
        strip_location(b"II*\0....", "TIFF")
