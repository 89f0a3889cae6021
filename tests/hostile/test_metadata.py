"""strip_metadata, unit by unit: what each container keeps (pictures, orientation, colour,
animation), what it drops (everything else), and what it costs (counted, not timed).

The privacy vectors, checked through the API with exiftool, are in test_privacy.py.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo

from images_app.rendering import strip_metadata
from images_app.rendering.containers import SOS, jpeg_segments
from images_app.rendering.metadata import Work, exif
from images_app.rendering.probe import exif_orientation

from . import heif
from .corpus import encode, gif, jpeg_with_segments, png, png_chunk, riff_chunk, segment

pytestmark = [
    pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin"),
]

LATITUDE_BYTES = heif.LATITUDE_BYTES
XMP = heif.XMP
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def camera_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 when shown
    exif[0x010F] = "Canon"
    exif.get_ifd(0x8769)[0x9003] = "2024:01:01 10:00:00"  # DateTimeOriginal, in the Exif IFD
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.5), 3: "E", 4: (13.0, 24.0, 36.75)}
    return exif


def decoded(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as image:
        return image.mode, image.size, image.tobytes()


def scan_data(jpeg: bytes) -> bytes:
    """From the first SOS through EOI: the entropy-coded data, which must never change."""
    start = next(block.start for block in jpeg_segments(jpeg) if block.kind == SOS)
    return jpeg[start:]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_only_the_orientation_and_the_colour_profile_stay(fmt):
    original = encode(fmt, (40, 20), exif=camera_exif().tobytes(), icc_profile=SRGB)
    assert LATITUDE_BYTES in original

    stripped = strip_metadata(original, fmt)

    assert LATITUDE_BYTES not in stripped and b"Canon" not in stripped
    with Image.open(io.BytesIO(stripped)) as image:
        assert dict(image.getexif()) == {0x0112: 6}
        assert image.info["icc_profile"] == SRGB
    assert decoded(stripped) == decoded(original)


def test_jpeg_scan_data_and_tables_are_byte_identical():
    original = encode("JPEG", (64, 48), exif=camera_exif().tobytes(), xmp=XMP, progressive=True)
    stripped = strip_metadata(original, "JPEG")
    assert scan_data(stripped) == scan_data(original)
    assert b"GPSLatitude" not in stripped


def test_cmyk_jpeg_keeps_the_adobe_marker_it_needs():
    original = encode("JPEG", (32, 16), mode="CMYK", comment=b"52.52N 13.40E")
    assert b"Adobe" in original
    stripped = strip_metadata(original, "JPEG")
    assert b"Adobe" in stripped and b"52.52N" not in stripped
    assert decoded(stripped) == decoded(original)


def test_jfif_keeps_its_header_and_loses_its_thumbnail():
    thumbnail = b"52.52N13.40E"  # a 2x2 RGB thumbnail, as far as JFIF can tell
    jfif = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x02\x02" + thumbnail
    original = encode("JPEG")
    app0 = next(block for block in jpeg_segments(original) if block.kind == 0xE0)
    original = original[:2] + segment(0xE0, jfif) + original[app0.end :]
    stripped = strip_metadata(original, "JPEG")
    assert segment(0xE0, jfif[:12] + b"\x00\x00") in stripped and thumbnail not in stripped
    assert decoded(stripped) == decoded(original)


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("JPEG", {}),
        ("JPEG", {"progressive": True, "icc_profile": SRGB}),
        ("PNG", {}),
        ("PNG", {"icc_profile": SRGB}),
        ("GIF", {}),
        ("WEBP", {}),
        ("WEBP", {"lossless": True, "icc_profile": SRGB}),
        ("GIF", {"save_all": True, "append_images": [Image.new("RGB", (24, 16))], "loop": 0}),
        ("PNG", {"save_all": True, "append_images": [Image.new("RGB", (24, 16))]}),
        ("WEBP", {"save_all": True, "append_images": [Image.new("RGB", (24, 16))]}),
    ],
)
def test_files_with_nothing_to_drop_come_back_byte_identical(fmt, params):
    original = encode(fmt, **params)
    if fmt == "PNG" and "icc_profile" in params:  # Pillow names the profile "ICC Profile"
        original = original.replace(b"iCCPICC Profile", b"iCCPICC profile")
        original = _fix_png_crcs(original)
    assert strip_metadata(original, fmt) == original


def _fix_png_crcs(data: bytes) -> bytes:
    out, pos = bytearray(data), 8
    while pos + 12 <= len(out):
        length = int.from_bytes(out[pos : pos + 4])
        crc = zlib.crc32(out[pos + 4 : pos + 8 + length])
        out[pos + 8 + length : pos + 12 + length] = crc.to_bytes(4)
        pos += 12 + length
    return bytes(out)


def test_jpeg_xmp_iptc_comments_app3_and_unknown_segments_go():
    iptc = segment(0xED, b"Photoshop 3.0\0" + b"8BIM\x04\x04\0\0\0\0\0\x0a\x1c\x02\x5a\0\x05Paris")
    app3 = segment(0xE3, b"Exif\0\0" + camera_exif().tobytes()[6:])
    app9 = segment(0xE9, b"vendor: Paris")
    original = encode("JPEG", exif=camera_exif().tobytes(), xmp=XMP, comment=b"Paris")
    original = jpeg_with_segments(original, iptc, app3, app9)
    stripped = strip_metadata(original, "JPEG")
    assert b"GPSLatitude" not in stripped and b"Paris" not in stripped
    assert LATITUDE_BYTES not in stripped
    assert {block.kind for block in jpeg_segments(stripped)} <= {
        0xE0, 0xE1, 0xC0, 0xC4, 0xDB, 0xDA, 0xD9,
    }  # fmt: skip
    assert decoded(stripped) == decoded(original)


def test_png_keeps_colour_and_drops_every_text_chunk():
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    info.add_text("Raw profile type exif", "exif\n  20\n" + LATITUDE_BYTES.hex(), zip=True)
    info.add_text("Comment", "52.52N 13.40E")
    original = encode("PNG", pnginfo=info, exif=camera_exif().tobytes(), icc_profile=SRGB)
    exif_chunk = png_chunk(b"exIf", camera_exif().tobytes()[6:])
    at = original.index(b"IDAT") - 4
    original = original[:at] + exif_chunk + png_chunk(b"tIME", bytes(7)) + original[at:]
    stripped = strip_metadata(original, "PNG")
    assert b"52.52N" not in stripped and LATITUDE_BYTES not in stripped
    assert b"GPSLatitude" not in stripped and b"tIME" not in stripped
    with Image.open(io.BytesIO(stripped)) as image:
        assert image.text == {}  # Pillow checks every CRC on the way
        assert dict(image.getexif()) == {0x0112: 6}
        assert image.info["icc_profile"] == SRGB
    assert decoded(stripped) == decoded(original)


def test_png_ancillary_chunk_with_a_bad_crc_is_dropped():
    original = encode("PNG", (8, 8), mode="P", transparency=0)
    trns = original.index(b"tRNS") - 4
    crc_at = trns + 12 + int.from_bytes(original[trns : trns + 4]) - 4
    damaged = original[:crc_at] + b"\0\0\0\0" + original[crc_at + 4 :]
    gama = png_chunk(b"gAMA", struct.pack(">I", 45455))
    broken_gama = gama[:-4] + b"\xde\xad\xbe\xef"
    at = damaged.index(b"IDAT") - 4
    damaged = damaged[:at] + broken_gama + damaged[at:]
    stripped = strip_metadata(damaged, "PNG")
    assert b"tRNS" not in stripped and b"gAMA" not in stripped
    assert stripped == original.replace(original[trns : crc_at + 4], b"")


def test_an_apng_with_a_damaged_frame_control_keeps_its_still_image_only():
    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "blue")]
    original = encode("PNG", (8, 8), save_all=True, append_images=frames)
    fctl = original.rindex(b"fcTL") - 4
    damaged = original[: fctl + 12 + 26 - 4] + b"\0\0\0\0" + original[fctl + 12 + 26 :]
    stripped = strip_metadata(damaged, "PNG")
    assert not {b"acTL", b"fcTL", b"fdAT"} & {stripped[i : i + 4] for i in range(len(stripped))}
    with Image.open(io.BytesIO(stripped)) as image:
        assert getattr(image, "n_frames", 1) == 1
    assert decoded(stripped) == decoded(original)


def test_webp_keeps_orientation_and_profile_with_the_flags_and_riff_size_right():
    original = encode("WEBP", exif=camera_exif().tobytes(), xmp=XMP, icc_profile=SRGB)
    extra = riff_chunk(b"TEXT", b"52.52N 13.40E")
    body = original[12:] + extra
    original = b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body
    stripped = strip_metadata(original, "WEBP")
    assert b"XMP " not in stripped and b"GPSLatitude" not in stripped
    assert b"52.52N" not in stripped and LATITUDE_BYTES not in stripped
    assert struct.unpack_from("<I", stripped, 4)[0] == len(stripped) - 8
    flags = stripped[stripped.index(b"VP8X") + 8]
    assert (flags & 0x04, flags & 0x08, flags & 0x20) == (0, 0x08, 0x20)
    assert decoded(stripped) == decoded(original)
    with Image.open(io.BytesIO(stripped)) as image:
        assert dict(image.getexif()) == {0x0112: 6}
        assert image.info["icc_profile"] == SRGB


def test_gif_keeps_animation_and_drops_comments_xmp_and_plain_text():
    xmp_extension = b"!\xff\x0bXMP DataXMP" + bytes([len(XMP)]) + XMP + b"\x00"
    comment = b"!\xfe\x0d52.52N 13.40E\x00"
    plain_text = b"!\x01\x0c" + bytes(12) + b"\x05Paris\x00"
    loop = b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    original = gif(4, 4, 2, before=loop + xmp_extension + comment + plain_text)
    assert strip_metadata(original, "GIF") == gif(4, 4, 2, before=loop)


def test_a_bad_segment_length_does_not_hide_the_exif_behind_it():
    original = encode("JPEG", exif=camera_exif().tobytes())
    app0 = original.index(b"\xff\xe0")
    original = original[: app0 + 2] + b"\0\0" + original[app0 + 4 :]  # Pillow reads on
    stripped = strip_metadata(original, "JPEG")
    assert LATITUDE_BYTES not in stripped and b"Canon" not in stripped
    assert decoded(stripped) == decoded(original)


def test_appended_files_go_mpo_frames_and_motion_photo_videos_alike():
    images = [Image.effect_noise((24, 16), 60).convert("RGB") for _ in range(2)]
    exif_bytes = camera_exif().tobytes()
    buffer = io.BytesIO()
    images[0].save(buffer, "MPO", save_all=True, append_images=images[1:], exif=exif_bytes)
    original = buffer.getvalue() + b"ftypmp42 ... a video with its own GPS box"
    stripped = strip_metadata(original, "MPO")
    assert stripped.count(b"\xff\xd8") == 1 and b"MPF\0" not in stripped
    assert b"ftypmp42" not in stripped and LATITUDE_BYTES not in stripped
    with Image.open(io.BytesIO(stripped)) as image:
        assert image.format == "JPEG" and dict(image.getexif()) == {0x0112: 6}
    assert decoded(stripped) == decoded(original)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_junk_after_the_image_goes(fmt):
    original = encode(fmt, mode="P" if fmt == "GIF" else "RGB")
    assert strip_metadata(original + b"<script>alert(1)</script>", fmt) == original


def test_exif_without_a_readable_orientation_is_dropped_whole():
    original = encode("JPEG")
    for junk in (b"Exif\0\0" + bytes(64), b"Exif\0\0II*\0" + bytes(4)):
        assert strip_metadata(jpeg_with_segments(original, segment(0xE1, junk)), "JPEG") == (
            original
        )


def test_formats_it_cannot_rewrite_fail_loudly():
    with pytest.raises(ValueError, match="can't rewrite 'TIFF'"):
        strip_metadata(b"II*\0....", "TIFF")


# --- The EXIF reader: Pillow's answer, in linear time --------------------------------------


def tiff_bytes(order: str, entries, ifd_at: int = 8, tail: bytes = b"") -> bytes:
    head = (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "I", ifd_at)
    table = struct.pack(order + "H", len(entries)) + b"".join(
        struct.pack(order + "HHI", tag, kind, count) + value for tag, kind, count, value in entries
    )
    return head.ljust(ifd_at, b"\0") + table + bytes(4) + tail


SHORT6 = {"<": b"\x06\0\0\0", ">": b"\0\x06\0\0"}


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize(
    "entries",
    [
        [(0x0112, 3, 1, "SHORT6")],
        [(0x0112, 2, 1, b"6\0\0\0"), (0x0112, 3, 1, "SHORT6")],  # ASCII wins: not an int
        [(0x0112, 99, 1, b"\0\0\0\0"), (0x0112, 3, 1, "SHORT6")],  # unknown type skipped
        [(0x0112, 3, 0, b"\0\0\0\0"), (0x0112, 3, 1, "SHORT6")],  # no data: skipped
        [(0x010F, 7, 10**6, b"\0\0\0\x08"), (0x0112, 3, 1, "SHORT6")],  # past the block
        [(0x010F, 7, 40, b"\0\0\0\x70"), (0x0112, 3, 1, "SHORT6")],  # read fails: table ends
        [(0x0112, 4, 1, b"\x06\0\0\0")],
        [(0x0112, 3, 3, b"\0\0\0\x08")],  # three values out of line: the first counts
    ],
)
def test_orientation_is_read_as_pillow_reads_it(order, entries):
    entries = [
        (tag, kind, count, SHORT6[order] if value == "SHORT6" else value)
        for tag, kind, count, value in entries
    ]
    data = b"Exif\0\0" + tiff_bytes(order, entries, tail=bytes(64))
    assert exif.orientation(data, Work()) == exif_orientation(data)


def test_the_reader_visits_each_entry_once_and_copies_nothing():
    entries = [(0x9000 + i % 100, 7, 10**6, b"\0\0\0\x08") for i in range(65_535)]
    data = tiff_bytes(">", entries)
    work = Work()
    assert exif.orientation(data, work) is None
    assert work.steps == 65_535 and work.copied == 0


# --- Cost: work linear in the file's size, whatever its shape --------------------------------


def big_ifd_exif(entries: int = 65_535, block: int = 3_000_000) -> bytes:
    """IFD0 of ``entries`` entries, each pointing at the whole of a ``block``-byte payload:
    a per-entry eraser or value copy would cost entries x block."""
    rows = [(0x8825 if i % 2 else 0x9000 + i % 64, 7, block, b"\0\0\0\x08") for i in range(entries)]
    return b"Exif\0\0" + tiff_bytes(">", rows, tail=bytes(block))


def many(kind: str) -> tuple[str, bytes]:
    if kind == "jpeg-segments":
        jpeg = encode("JPEG", (16, 16))
        return "JPEG", jpeg_with_segments(jpeg, *[segment(0xFE, b"52.52N")] * 9_000)
    if kind == "png-chunks":
        chunks = png_chunk(b"tEXt", b"Comment\x0052.52N") * 15_000
        return "PNG", png(1, 1, zlib.compress(b"\0\0"), extra=chunks)
    if kind == "gif-comments":
        return "GIF", gif(1, 1, 1, before=b"!\xfe\x0652.52N\x00" * 9_000)
    if kind == "webp-chunks":
        original = encode("WEBP", exif=camera_exif().tobytes())
        body = original[12:] + riff_chunk(b"TEXT", b"52.52N") * 15_000
        return "WEBP", b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body
    if kind == "jpeg-big-ifd":  # APP1 is at most 64 KiB: 5,000 entries over all of it
        return "JPEG", jpeg_with_segments(
            encode("JPEG"), segment(0xE1, big_ifd_exif(5_000, 60_000 - 5_000 * 12))
        )
    if kind == "png-big-ifd":
        return "PNG", png(
            1, 1, zlib.compress(b"\0\0"), extra=png_chunk(b"eXIf", big_ifd_exif()[6:])
        )
    if kind == "webp-big-ifd":
        return "WEBP", encode("WEBP", exif=big_ifd_exif())
    raise ValueError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "jpeg-segments",
        "png-chunks",
        "gif-comments",
        "webp-chunks",
        "jpeg-big-ifd",
        "png-big-ifd",
        "webp-big-ifd",
    ],
)
def test_the_worst_shapes_cost_work_linear_in_the_file_size(kind):
    fmt, data = many(kind)
    work = Work()
    stripped = strip_metadata(data, fmt, work=work)
    assert b"52.52N" not in stripped and LATITUDE_BYTES not in stripped
    # A step per block or IFD entry (each at least 6 bytes), each byte copied about once.
    assert work.steps <= len(data) // 6 + 100, work.steps
    assert work.copied <= 2 * len(data) + 1000, work.copied
