"""A hostile corpus, made in code: files no upload may turn into a 500.

    for case in cases():
        case.name, case.data, case.accepted  # True, False, or None: either, but nothing else

``hostile_files()`` gives the same as ``(name, bytes)`` pairs. Names say what a file is, not
what it is called: API tests should upload every one as ``photo.jpg``, ``image/jpeg``.
Expectations hold for the default limits (60 megapixels, 1000 frames) and formats.
"""

from __future__ import annotations

import functools
import gzip
import io
import random
import struct
import sys
import time
import zipfile
import zlib
from typing import NamedTuple

import pytest
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo

from images_app.rendering import InvalidImage, inspect_image, parse_spec

from . import heif

# The defaults every expectation below holds for.
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "HEIF")
LIMITS = {"max_pixels": 60_000_000, "max_frames": 1000}


def inspect(data: bytes, **limits):
    """inspect_image with the default formats and limits, overridable per call."""
    return inspect_image(data, formats=FORMATS, **{**LIMITS, **limits})


def refusal(data: bytes, **limits) -> str:
    """The InvalidImage message ``inspect`` refuses ``data`` with (fails if it is accepted)."""
    with pytest.raises(InvalidImage) as caught:
        inspect(data, **limits)
    return str(caught.value)


WORK_CAP = 20_000_000  # lines; stop tracing there: a quadratic walk would run for minutes


class TooMuchWork(BaseException):
    """Raised from the trace function; a BaseException, so no ``except Exception`` eats it."""


def work(data: bytes) -> tuple[int, str]:
    """Lines of Python ``inspect`` executes on ``data`` (ours and Pillow's), and its outcome.

    Work, not time: deterministic however busy the machine is.
    """
    count = 0

    def line(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
            if count > WORK_CAP:
                raise TooMuchWork
        return line

    sys.settrace(lambda frame, event, arg: line)
    try:
        outcome = inspect(data).format
    except InvalidImage as exc:
        outcome = str(exc)
    except TooMuchWork:
        outcome = "over the cap"
    finally:
        sys.settrace(None)
    return count, outcome


SPECS = [
    parse_spec("thumb", "max-150x150"),
    parse_spec("thumb_retina", "max-300x300"),
    parse_spec("ipad", "max-1024x1024"),
    parse_spec("ipad_retina", "max-2048x2048"),
    parse_spec("ebay", "max-1600x1600"),
]


class Case(NamedTuple):
    name: str
    data: bytes
    accepted: bool | None  # None: a mutated file; accepted or refused, never a crash
    why: str


@functools.cache
def cases() -> tuple[Case, ...]:
    """Every hostile case, generated once per process (about a second, a few megabytes)."""
    groups = (
        _valid,
        _not_images,
        _polyglots,
        _truncated,
        _other_formats,
        _pixel_bombs,
        _frame_bombs,
        _structure_bombs,
        _broken_exif,
        _absurd_icc,
        _heif_files,
        _mutated,
    )
    return tuple(case for group in groups for case in group())


def hostile_files() -> list[tuple[str, bytes]]:
    """``(name, bytes)`` for every case; ``expected(name)`` tells its outcome."""
    return [(case.name, case.data) for case in cases()]


def expected(name: str) -> bool | None:
    """True: accepted; False: refused with a 400; None: either (mutated files)."""
    return _by_name()[name].accepted


@functools.cache
def _by_name() -> dict[str, Case]:
    return {case.name: case for case in cases()}


# --- Builders -------------------------------------------------------------------------------


def encode(fmt: str, size=(24, 16), mode: str = "RGB", *, seed: int = 0, **params) -> bytes:
    """An image made with Pillow from seeded noise: every pixel matters, every run the same."""
    noise = random.Random(seed).randbytes(size[0] * size[1] * 3)
    image = Image.frombytes("RGB", size, noise).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def png(width: int, height: int, idat: bytes, *, depth=8, colour=0, extra: bytes = b"") -> bytes:
    """A PNG from its parts: IHDR as given, ``extra`` chunks, one IDAT, IEND."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + extra
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def gif(width: int, height: int, frames: int, *, frame=(0, 0, 1, 1), before=b"") -> bytes:
    """A GIF with a 2-colour table and ``frames`` tiny frames at ``frame`` (x, y, w, h)."""
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    image = b"," + struct.pack("<4HB", *frame, 0) + b"\x02\x02\x44\x01\x00"
    return header + before + image * frames + b";"


def riff(*chunks: bytes) -> bytes:
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def riff_chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


def jpeg_with_segments(jpeg: bytes, *segments: bytes) -> bytes:
    """``jpeg`` with marker segments inserted right after SOI."""
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def tiff_ifd(order: str, entries, next_offset=0) -> bytes:
    """A TIFF header and one IFD at offset 8; entries are (tag, type, count, value)."""
    table = struct.pack(order + "H", len(entries))
    for tag, kind, count, value in entries:
        table += struct.pack(order + "HHI", tag, kind, count) + struct.pack(order + "I", value)
    head = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 8)
    return head + table + struct.pack(order + "I", next_offset)


def with_sof_size(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` with its frame header declaring another size (the data stays tiny)."""
    at = jpeg.index(b"\xff\xc0")
    return jpeg[: at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9 :]


def flip_bits(data: bytes, seed: int, flips: int = 8) -> bytes:
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(flips):
        at = rng.randrange(len(out))
        out[at] ^= 1 << rng.randrange(8)
    return bytes(out)


def _vp8l_1x1() -> bytes:
    data = encode("WEBP", (1, 1), lossless=True)
    at = data.index(b"VP8L")
    return data[at:]


# --- Cases ----------------------------------------------------------------------------------


def _valid() -> list[Case]:
    ok = "an ordinary image"
    return [
        Case("jpeg", encode("JPEG"), True, ok),
        Case("jpeg_progressive", encode("JPEG", progressive=True), True, ok),
        Case("jpeg_cmyk", encode("JPEG", mode="CMYK"), True, ok),
        Case("png_rgba", encode("PNG", mode="RGBA"), True, ok),
        Case("png_palette", encode("PNG", mode="P"), True, ok),
        Case("png_16bit_grey", encode("PNG", mode="I;16"), True, ok),
        Case("gif", encode("GIF", mode="P"), True, ok),
        Case("gif_animated_3", _animated("GIF", 3), True, ok),
        Case("png_animated_3", _animated("PNG", 3), True, ok),
        Case("webp", encode("WEBP"), True, ok),
        Case("webp_lossless_rgba", encode("WEBP", mode="RGBA", lossless=True), True, ok),
        Case("webp_animated_3", _animated("WEBP", 3), True, ok),
        Case("mpo_two_images", _mpo(), True, "a JPEG with a second image appended (MPO)"),
        *_orientation_elsewhere(),
        Case("gif_no_trailer", encode("GIF", mode="P")[:-1], True, "the trailer is optional"),
        Case("png_no_iend", encode("PNG")[:-12], True, "every pixel is there"),
    ]


def _orientation_elsewhere() -> list[Case]:
    """Orientation outside EXIF: browsers and libvips ignore it, so the image stays as stored."""
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
        b'tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
    )
    exif = tiff_ifd(">", [(0x0112, 3, 1, 6 << 16)])
    raw_profile = f"\nexif\n{len(exif) + 6:8d}\n" + (b"Exif\0\0" + exif).hex()
    why = "orientation outside EXIF is ignored, as browsers do"
    return [
        Case("jpeg_xmp_orientation_6", encode("JPEG", (40, 20), xmp=xmp), True, why),
        Case("webp_xmp_orientation_6", encode("WEBP", (40, 20), xmp=xmp), True, why),
        Case(
            "png_xmp_orientation_6",
            encode("PNG", (40, 20), pnginfo=_text("XML:com.adobe.xmp", xmp)),
            True,
            why,
        ),
        Case(
            "png_raw_profile_orientation_6",
            encode("PNG", (40, 20), pnginfo=_text("Raw profile type exif", raw_profile.encode())),
            True,
            why,
        ),
    ]


def _animated(fmt: str, frames: int) -> bytes:
    images = [Image.open(io.BytesIO(encode("PNG", seed=seed))) for seed in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, fmt, save_all=True, append_images=images[1:], duration=100)
    return buffer.getvalue()


def _mpo() -> bytes:
    images = [Image.open(io.BytesIO(encode("PNG", seed=seed))) for seed in range(2)]
    buffer = io.BytesIO()
    images[0].save(buffer, "MPO", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def _not_images() -> list[Case]:
    svg = (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" '
        b'height="10" onload="alert(1)"><script>alert(document.cookie)</script>'
        b'<rect width="10" height="10"/></svg>'
    )
    html = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
    no = "not an image"
    return [
        Case("empty", b"", False, no),
        Case("one_byte", b"\xff", False, no),
        Case("text", b"hello, this is not an image\n", False, no),
        Case("html", html, False, no),
        Case("svg_script", svg, False, "SVG is a document that runs scripts, never an image here"),
        Case("svgz_script", gzip.compress(svg, mtime=0), False, no),
        Case("zip", _zip(html), False, no),
        Case("jpeg_soi_only", b"\xff\xd8\xff", False, "a signature and nothing else"),
        Case("png_signature_only", b"\x89PNG\r\n\x1a\n", False, "a signature and nothing else"),
        Case("gif_header_only", b"GIF89a", False, "a signature and nothing else"),
        Case("riff_webp_header_only", b"RIFF\x04\0\0\0WEBP", False, "a signature only"),
    ]


def _polyglots() -> list[Case]:
    html = b"<html><body><script>alert(document.cookie)</script></body></html>"
    trailing = "a valid image with junk after its end: served as an image, never as HTML"
    return [
        Case("png_signature_then_html", b"\x89PNG\r\n\x1a\n" + html, False, "a PNG header only"),
        Case("html_then_png", html + encode("PNG"), False, "not an image at its start"),
        Case("png_then_html", encode("PNG") + html, True, trailing),
        Case("jpeg_then_html", encode("JPEG") + html, True, trailing),
        Case("gif_then_zip", encode("GIF", mode="P") + _zip(html), True, trailing),
        Case("webp_then_html", encode("WEBP") + html, True, trailing),
        Case("jpeg_html_comment", encode("JPEG", comment=html), True, "HTML in a JPEG comment"),
        Case("png_html_text", encode("PNG", pnginfo=_text("Comment", html)), True, "HTML in text"),
    ]


def _zip(content: bytes) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(zipfile.ZipInfo("evil.html", (2020, 1, 1, 0, 0, 0)), content)
    return archive.getvalue()


def _text(key: str, value: bytes) -> PngInfo:
    info = PngInfo()
    info.add_text(key, value.decode())
    return info


def _truncated() -> list[Case]:
    jpeg, png_, gif_, webp = (encode(f, (64, 48)) for f in ("JPEG", "PNG", "GIF", "WEBP"))
    cut = "truncated: the decoder runs out of data"
    return [
        Case("jpeg_truncated_half", jpeg[: len(jpeg) // 2], False, cut),
        Case(
            "jpeg_no_eoi", jpeg[:-2], False, "no end-of-image marker: both decoders say truncated"
        ),
        Case("jpeg_truncated_in_header", jpeg[:200], False, cut),
        Case("jpeg_truncated_before_sos", jpeg[: jpeg.index(b"\xff\xda")], False, cut),
        Case("png_truncated_half", png_[: len(png_) // 2], False, cut),
        Case("png_truncated_in_ihdr", png_[:20], False, cut),
        Case("png_truncated_in_iend", png_[:-6], False, "a chunk cut short: truncated"),
        Case("gif_truncated_half", gif_[: len(gif_) // 2], False, cut),
        Case("webp_truncated_half", webp[: len(webp) // 2], False, cut),
    ]


# Formats Pillow reads (and writes) that are never allowed here.
OTHER_FORMATS = ("TIFF", "BMP", "EPS", "ICO", "TGA", "PCX", "PPM", "SGI", "DDS", "JPEG2000")
OTHER_FORMATS += ("PDF", "QOI", "SPIDER")


def _other_formats() -> list[Case]:
    made = [
        Case(f"{fmt.lower()}_named_jpg", data, False, f"{fmt} is not an allowed format")
        for fmt, data in _saved_as(*OTHER_FORMATS)
    ]
    psd = (
        b"8BPS"
        + struct.pack(">H6xHIIHH", 1, 3, 4, 4, 8, 3)  # version, channels, h, w, depth, RGB
        + struct.pack(">III", 0, 0, 0)  # colour mode data, resources, layers
        + struct.pack(">H", 0)
        + bytes(3 * 16)  # raw planes
    )
    return [*made, Case("psd_named_jpg", psd, False, "PSD is not an allowed format")]


_EPOCH = time.gmtime(0)  # a PDF date that is the same every run


def _saved_as(*formats: str) -> list[tuple[str, bytes]]:
    saved = []
    for fmt in formats:
        try:
            mode = "L" if fmt == "SPIDER" else "RGB"
            dated = {"creationDate": _EPOCH, "modDate": _EPOCH} if fmt == "PDF" else {}
            saved.append((fmt, encode(fmt, mode=mode, **dated)))
        except (KeyError, OSError, ValueError):  # no encoder for it in this Pillow build
            continue
    return saved


def _pixel_bombs() -> list[Case]:
    jpeg = encode("JPEG", (8, 8))
    row = b"\0" + bytes(1000)  # 8000 one-bit pixels
    zlib_bomb = zlib.compress(row * 8000, 9)  # 64 megapixels in a few kilobytes
    vp8x = riff_chunk(b"VP8X", b"\0\0\0\0" + (16383).to_bytes(3, "little") * 2)
    bomb = "declares more pixels than the limit; refused from the header, before decoding"
    return [
        Case("png_100000x100000", png(100_000, 100_000, zlib.compress(b"\0\0")), False, bomb),
        Case("png_64mp_zlib_bomb", png(8000, 8000, zlib_bomb, depth=1), False, bomb),
        Case("png_2g_x_2g", png(2**31 - 1, 2**31 - 1, zlib.compress(b"\0\0")), False, bomb),
        Case("gif_65535_screen", gif(65535, 65535, 1), False, bomb),
        Case("gif_frame_beyond_screen", gif(1, 1, 1, frame=(0, 0, 65535, 65535)), False, bomb),
        Case("jpeg_65500x65500", with_sof_size(jpeg, 65500, 65500), False, bomb),
        Case("jpeg_9000x9000", with_sof_size(jpeg, 9000, 9000), False, bomb),
        Case("webp_canvas_16384", riff(vp8x, _vp8l_1x1()), False, bomb),
        *_cheap_bombs(),
    ]


def vp8l(width: int, height: int) -> bytes:
    """A lossless WebP declaring ``width`` x ``height`` in 38 bytes."""
    chunk = bytearray(_vp8l_1x1())
    chunk[9:13] = ((width - 1) | (height - 1) << 14 | 1 << 28).to_bytes(4, "little")
    return riff(bytes(chunk))


def _padding(size: int) -> bytes:
    return png_chunk(b"prVt", bytes(size))  # bytes enough that the ratio is not the reason


def _cheap_bombs() -> list[Case]:
    """Within the pixel limit, yet far more memory than their bytes justify."""
    return [
        Case("webp_60mp_in_38_bytes", vp8l(7745, 7745), False, "60 MP from 38 bytes: +457 MiB"),
        Case(
            "gif_frame_65288x255_on_an_8x8_screen",
            gif(8, 8, 1, frame=(0, 0, 65288, 255)),
            False,
            "a frame far larger than its screen: +384 MiB from 177 bytes",
        ),
        Case(
            "jpeg_7745x7745_with_16x16_of_scan",
            with_sof_size(encode("JPEG", (16, 16)), 7745, 7745),
            False,
            "a scan far too short for its size: libjpeg paints 60 MP of grey",
        ),
        Case(
            "png_deep_36mp",
            png(6000, 6000, zlib.compress(b"\0\0"), depth=16, colour=6, extra=_padding(4000)),
            False,
            "36 MP at 8 bytes a pixel: over the 256 MiB decode budget",
        ),
    ]


def _frame_bombs() -> list[Case]:
    anmf = b"\0" * 6 + b"\0\0\0" * 2 + b"\x64\0\0\0" + _vp8l_1x1()
    anim = riff(
        riff_chunk(b"VP8X", b"\x02\0\0\0" + b"\0\0\0" * 2),
        riff_chunk(b"ANIM", b"\0\0\0\0\0\0"),
        *[riff_chunk(b"ANMF", anmf)] * 2000,
    )
    actl = png_chunk(b"acTL", struct.pack(">II", 100_000, 0))
    frames = "more frames than the limit"
    return [
        Case("gif_10000_frames", gif(1, 1, 10_000), False, frames),
        Case("gif_500_frames_of_400x400", gif(400, 400, 500), False, "80 megapixels in all"),
        Case("webp_2000_frames", anim, False, frames),
        Case(
            "apng_declares_100000_frames",
            png(1, 1, zlib.compress(b"\0\0"), extra=actl),
            False,
            frames,
        ),
        Case(
            "apng_declares_zero_frames",
            png(1, 1, zlib.compress(b"\0\0"), extra=png_chunk(b"acTL", bytes(8))),
            False,
            "malformed animation control, as Pillow warns",
        ),
    ]


def _structure_bombs() -> list[Case]:
    jpeg, png_ = encode("JPEG", (8, 8)), encode("PNG", (8, 8))
    ihdr_end = 8 + 25
    many = "tiny blocks that cost a parser seconds at 20 MiB; refused before Pillow parses them"
    return [
        Case(
            "jpeg_30000_empty_segments",
            jpeg_with_segments(jpeg, b"\xff\xe5\0\x02" * 30_000),
            False,
            many,
        ),
        Case("jpeg_200k_junk_bytes", jpeg[:2] + b"\x00" * 200_000 + jpeg[2:], False, many),
        Case(
            "png_30000_empty_chunks",
            png_[:ihdr_end] + png_chunk(b"prVt", b"") * 30_000 + png_[ihdr_end:],
            False,
            many,
        ),
        Case(
            "gif_comment_of_100000_subblocks",
            gif(1, 1, 1, before=b"!\xfe" + b"\x01A" * 100_000 + b"\0"),
            False,
            many,
        ),
    ]


def _broken_exif() -> list[Case]:
    jpeg = encode("JPEG", (16, 8))
    ignored = "a broken EXIF block is ignored, the image is fine"
    blocks = {
        "jpeg_exif_garbage": bytes(range(256)),
        "jpeg_exif_empty": b"",
        "jpeg_exif_gps_out_of_range": tiff_ifd("<", [(0x0112, 3, 1, 6), (0x8825, 4, 1, 2**31)]),
        "jpeg_exif_ifd_loop": tiff_ifd(">", [(0x0112, 3, 1, 6 << 16)], next_offset=8),
        "jpeg_exif_huge_count": b"II*\0\x08\0\0\0\xff\xff" + bytes(20),
        **{
            f"jpeg_exif_orientation_{value}": tiff_ifd("<", [(0x0112, 3, 1, value)])
            for value in (0, 9, 65535)
        },
    }
    return [
        *[
            Case(name, jpeg_with_segments(jpeg, segment(0xE1, b"Exif\0\0" + tiff)), True, ignored)
            for name, tiff in blocks.items()
        ],
        Case("png_exif_garbage", encode("PNG", exif=b"Exif\0\0" + bytes(64)), True, ignored),
        Case("webp_exif_garbage", encode("WEBP", exif=b"Exif\0\0" + bytes(64)), True, ignored),
    ]


def _absurd_icc() -> list[Case]:
    rng = random.Random(4)
    noise = rng.randbytes(3000)
    huge = rng.randbytes(1_500_000)  # split by Pillow into 23 APP2 segments
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    srgb = srgb[:24] + bytes(12) + srgb[36:]  # no creation date: the same bytes every run
    many_tags = srgb[:128] + struct.pack(">I", 0xFFFF_FFFF) + srgb[132:]
    wrong_size = struct.pack(">I", 0x7FFF_FFFF) + srgb[4:]
    bomb = b"icc\0\0" + zlib.compress(bytes(2_000_000), 9)  # Pillow's cap is 1 MiB
    ignored = "an unusable ICC profile is ignored: the pixels are read as sRGB"
    return [
        Case("jpeg_icc_noise", encode("JPEG", icc_profile=noise), True, ignored),
        Case("jpeg_icc_1_5mb_noise", encode("JPEG", icc_profile=huge), True, ignored),
        Case("jpeg_icc_4g_tags", encode("JPEG", icc_profile=many_tags), True, ignored),
        Case("jpeg_icc_wrong_size", encode("JPEG", icc_profile=wrong_size), True, ignored),
        Case("png_icc_noise", encode("PNG", icc_profile=noise), True, ignored),
        Case("webp_icc_noise", encode("WEBP", icc_profile=noise), True, ignored),
        Case(
            "png_icc_2mb_zlib_bomb",
            png(1, 1, zlib.compress(b"\0\0"), extra=png_chunk(b"iCCP", bomb)),
            False,
            "Pillow refuses to inflate a profile this large",
        ),
    ]


def _heif_files() -> list[Case]:
    """HEIC and AVIF: real files from the encoders, and the builder's hostile variants."""
    cases = []
    if heif.HEIC_OK:
        cases += _heic_cases()
    if heif.AVIF_OK:
        cases += _avif_cases()
    return cases


def _heic_cases() -> list[Case]:
    ok, bad = "an ordinary HEIC", "broken or lying structure: refused before any decoder"
    plain, phone = heif.heic((24, 16)), heif.phone_heic((48, 32))
    parts, primary = heif.items_of(plain), heif.primary_of(plain)
    first = next(part for part in parts if part.id == primary)
    grid, grid_id = heif.items_of(phone), heif.primary_of(phone)
    tile = grid[[part.id for part in grid].index(grid_id)].refs[b"dimg"][0]
    burst = [heif.picture((24, 16)).rotate(angle) for angle in (0, 90, 180)]
    nested = b""
    for _ in range(64):
        nested = heif.box(b"dinf", nested)
    iloc_lie = heif.full_box(b"iloc", bytes([0x44, 0x00, 0xFF, 0xFF]) + bytes(14), 1)
    huge = heif.ispe(20000, 20000)
    bomb = "declares more pixels than the limit; refused from the header, before decoding"
    return [
        Case("heic", plain, True, ok),
        Case("heic_phone_grid_thumbnail_exif_xmp", phone, True, "as an iPhone writes it"),
        Case("heic_rgba", heif.heic((24, 16), mode="RGBA"), True, "an alpha plane"),
        Case(
            "heic_burst_3",
            heif.encode("HEIF", image=burst[0], save_all=True, append_images=burst[1:]),
            True,
            "three top-level pictures: three frames, the primary rendered",
        ),
        Case("heic_rebuilt", heif.build(parts, primary), True, "the builder's own layout"),
        Case("heic_64bit_mdat", heif.build(parts, primary, large_mdat=True), True, ok),
        Case("heic_then_html", plain + b"<html><script>alert(1)</script>", True, "junk after"),
        Case(
            "heic_motion_photo_video",
            plain + heif.box(b"mpvd", b"\0\0\0\x18ftypmp42 ... a video with its own GPS"),
            True,
            "a motion photo's video after the picture: cut off from the original",
        ),
        Case(
            "heic_64bit_size_lies_after",
            plain + struct.pack(">I4sQ", 1, b"free", 2**63),
            True,
            "a box that runs past the end after the picture: junk, dropped",
        ),
        Case("heic_ftyp_only", plain[: int.from_bytes(plain[:4])], False, "no meta box"),
        Case("heic_truncated_half", plain[: len(plain) // 2], False, "truncated"),
        Case("heic_truncated_in_mdat", plain[:-10], False, "the coded picture is cut short"),
        Case(
            "heic_meta_size_lies",
            plain[:28] + (2**31).to_bytes(4) + plain[32:],
            False,
            "meta runs past the end of the file",
        ),
        Case(
            "heic_box_shorter_than_its_header",
            heif.build(parts, primary, meta_extra=struct.pack(">I4s", 4, b"free")),
            False,
            bad,
        ),
        Case(
            "heic_iloc_declares_65535_items",
            heif.build(parts, primary, iloc=iloc_lie),
            False,
            "a table declaring far more entries than its box holds",
        ),
        Case(
            "heic_200000_tiny_boxes_in_meta",
            heif.build(parts, primary, meta_extra=heif.box(b"free") * 200_000),
            False,
            "tiny boxes that cost a parser seconds at 20 MiB",
        ),
        Case(
            "heic_boxes_nested_64_deep",
            heif.build(parts, primary, meta_extra=nested),
            False,
            "libheif stops at 20 levels",
        ),
        Case("heic_no_primary", heif.build(parts, 99), False, "pitm names no item"),
        Case(
            "heic_primary_is_jpeg",
            heif.build(heif.edit(parts, primary, type=b"jpeg"), primary),
            False,
            "a codec we do not decode",
        ),
        Case(
            "heic_brand_avif",
            heif.build(parts, primary, brand=b"avif", compatible=(b"avif", b"mif1")),
            False,
            "the brand says AV1, the picture is HEVC",
        ),
        Case(
            "heic_ispe_20000x20000",
            heif.build(
                heif.edit(parts, primary, properties=_swap(first.properties, huge)),
                primary,
            ),
            False,
            bomb,
        ),
        Case(
            "heic_sps_16000x12000_ispe_24x16",
            heif.build(
                heif.edit(parts, primary, properties=_coded(first.properties, 16000, 12000)),
                primary,
            ),
            False,
            "the HEVC header declares 192 megapixels: what libde265 would allocate",
        ),
        Case(
            "heic_grid_of_16000_tile_references",
            heif.build(heif.edit(grid, grid_id, refs={b"dimg": [tile] * 16_000}), grid_id),
            False,
            "a small canvas made of 16000 decodes of one tile: 66 megapixels",
        ),
        Case(
            "heic_item_shares_bytes_with_exif",
            _exif_over_pixels(phone),
            True,
            "the EXIF item's bytes are a tile's: the tile stays, no EXIF is written over it",
        ),
        Case(
            "heic_protected_primary",
            _protected(heif.build(parts, primary)),
            False,
            "encrypted pictures",
        ),
    ]


def _swap(properties: list[bytes], new: bytes) -> list[bytes]:
    return [new if prop[4:8] == new[4:8] else prop for prop in properties]


def _coded(properties: list[bytes], width: int, height: int) -> list[bytes]:
    return [
        heif.with_hevc_size(prop, width, height)
        if prop[4:8] == b"hvcC"
        else heif.av1c_with_size(prop, width, height)
        if prop[4:8] == b"av1C"
        else prop
        for prop in properties
    ]


def _exif_over_pixels(data: bytes) -> bytes:
    """The EXIF item's extent moved onto the first tile's bytes."""
    parts, primary = heif.items_of(data), heif.primary_of(data)
    exif = next(part for part in parts if part.type == b"Exif")
    built = heif.build(parts, primary)
    located = heif.items_of(built)  # same order: find where the tile landed
    first_tile = next(part for part in located if part.type == b"hvc1")
    at = built.index(first_tile.data)
    # iloc entries are (id, method, dri, extents, offset, length): retarget the EXIF's offset
    entry = struct.pack(">HHHH", exif.id, 0, 0, 1)
    pos = built.index(entry) + len(entry)
    return built[:pos] + struct.pack(">I", at) + built[pos + 4 :]


def _protected(data: bytes) -> bytes:
    """The first infe's item_protection_index set to 1."""
    at = data.index(b"infe") + 4 + 4 + 2  # version/flags, item_ID
    return data[:at] + b"\0\x01" + data[at + 2 :]


def _avif_cases() -> list[Case]:
    plain = heif.avif((24, 16))
    parts, primary = heif.items_of(plain), heif.primary_of(plain)
    first = next(part for part in parts if part.id == primary)
    clap = heif.box(b"clap", struct.pack(">8i", 12, 1, 8, 1, 0, 1, 0, 1))
    far = heif.box(b"clap", struct.pack(">8i", 12, 1, 8, 1, 12, 1, 0, 1))
    frames = [heif.picture((24, 16)).rotate(angle) for angle in (0, 90)]
    return [
        Case("avif", plain, True, "an ordinary AVIF"),
        Case("avif_rgba", heif.avif((24, 16), image=_see_through()), True, "an alpha plane"),
        Case(
            "avif_exif_xmp",
            heif.avif((24, 16), exif=heif.camera_exif(), xmp=heif.XMP),
            True,
            "EXIF with GPS and orientation, XMP",
        ),
        Case("avif_truncated_in_mdat", plain[:-10], False, "the coded picture is cut short"),
        Case(
            "avif_animated",
            heif.encode("AVIF", image=frames[0], save_all=True, append_images=frames[1:]),
            True,
            "a sequence beside a primary item: its first picture, as animated GIF and WebP",
        ),
        Case(
            "avif_sequence_header_16000x12000",
            heif.build(
                heif.edit(parts, primary, properties=_coded(first.properties, 16000, 12000)),
                primary,
            ),
            False,
            "the AV1 header declares 192 megapixels: what dav1d would allocate",
        ),
        Case(
            "avif_cropped_by_clap",
            heif.build(heif.edit(parts, primary, properties=[*first.properties, clap]), primary),
            True,
            "a crop (clap): both engines show the 12 x 8 middle, as libheif does",
        ),
        Case(
            "avif_clap_outside",
            heif.build(heif.edit(parts, primary, properties=[*first.properties, far]), primary),
            False,
            "a crop (clap) reaching outside the picture: no decoder can show it right",
        ),
    ]


def _see_through() -> Image.Image:
    image = heif.picture((24, 16), "RGBA")
    image.paste((0, 0, 0, 0), (0, 0, 12, 16))
    return image


def _mutated() -> list[Case]:
    seeds = {fmt: encode(fmt, (24, 16)) for fmt in ("JPEG", "PNG", "GIF", "WEBP")}
    seeds["GIF_ANIMATED"] = _animated("GIF", 2)
    if heif.HEIC_OK:
        seeds["HEIC"] = heif.phone_heic((24, 16))
    if heif.AVIF_OK:
        seeds["AVIF"] = heif.avif((24, 16), exif=heif.camera_exif(), xmp=heif.XMP)
    return [
        Case(f"{fmt.lower()}_bitflips_seed_{seed}", flip_bits(data, seed), None, "fuzzed")
        for fmt, data in seeds.items()
        for seed in range(6)
    ]
