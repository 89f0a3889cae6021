"""Read what an upload is from its header, before anything is decoded.

Pillow parses container headers in Python, block by block, so a 20 MiB file made of tiny
blocks (empty JPEG segments, PNG chunks, one-byte GIF sub-blocks) costs it seconds of CPU
and hundreds of megabytes before a single pixel is decoded, and ``n_frames`` on a GIF walks
every frame. So we first walk the container ourselves, with a budget of blocks for the
file's size, and take the dimensions and frame count from that walk; Pillow only opens
files that passed, and only to read their header.

HEIC and AVIF (``isobmff``) are parsed whole, boxes and items, by the same budget. Their
pixel count is what decoding the primary picture allocates: each coded picture (a grid's
tiles one by one, an alpha plane) at the larger of its declared size (``ispe``) and the
size in the codec's own header, which is what libde265 and dav1d trust. Their frames are
the pictures a viewer lists; image sequences (animations) are refused. The displayed size
comes from Pillow, as the engines read it: pillow-heif applies ``irot``/``imir`` and clears
the EXIF tag, Pillow's AVIF plugin turns ``irot``/``imir`` into the EXIF tag; either way the
EXIF orientation tag a HEIF file carries itself is ignored, as the HEIF standard says.

Thread safety: nothing here touches global state per call. Pillow's
``DecompressionBombWarning`` fires inside ``Image.open`` above ``Image.MAX_IMAGE_PIXELS``;
our own limit, never above Pillow's, is checked from our walk before that, so it can't fire
for the formats we walk. As a second line (other formats, ``render()`` called on its own)
the warning is made an error once for the whole process, at import, because toggling it
per call with ``warnings.catch_warnings`` is not thread-safe.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from PIL import Image

from . import isobmff
from .errors import InvalidImage

MAX_FRAMES = 1000  # default frame limit: a long animated GIF, far from a flip-book bomb

warnings.simplefilter("error", Image.DecompressionBombWarning)

# Orientation values 5..8 swap width and height when applied.
_TRANSPOSED = {5, 6, 7, 8}
_NAMES = {"WEBP": "WebP", "HEIF": "HEIC"}
_EXTENSIONS = {"JPEG": "jpg", "HEIF": "heic"}
# HEIF files whose pictures are HEVC-coded (all we decode) are HEIC; Pillow says image/heif.
_CONTENT_TYPES = {"HEIF": "image/heic", "AVIF": "image/avif"}
HEIF_FORMATS = ("HEIF", "AVIF")  # the ISOBMFF ones: one walk, one stripper


@dataclass(frozen=True)
class SourceInfo:
    format: str  # Pillow's name: JPEG, PNG, GIF, WEBP, HEIF (HEIC), AVIF
    width: int  # as displayed, after EXIF orientation
    height: int
    frames: int
    mode: str

    @property
    def extension(self) -> str:
        return _EXTENSIONS.get(self.format, self.format.lower())

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES.get(self.format) or Image.MIME.get(
            self.format, "application/octet-stream"
        )


def inspect_image(
    data: bytes, *, formats: Sequence[str], max_pixels: int, max_frames: int = MAX_FRAMES
) -> SourceInfo:
    """Sniff the format from the bytes and check the limits; raise InvalidImage if refused.

    Reads headers only: a file can pass here and still fail to decode in ``render()``
    (a truncated one, say), which raises InvalidImage too.
    """
    if not data:
        raise InvalidImage("The submitted file is empty.")
    limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
    layout = _walk(data, formats, max_frames)
    if layout is not None and layout.size is not None:
        _check_limits(*layout.size, layout.frames, limit, max_frames, layout.pixels)
    if layout is not None and layout.refusal is not None:
        raise layout.refusal
    info = _open(data, formats, layout, limit)
    _check_limits(info.width, info.height, info.frames, limit, max_frames)
    return info


def not_an_image(formats: Sequence[str]) -> InvalidImage:
    """The standard refusal for bytes that are not an image in one of ``formats``."""
    names = [_NAMES.get(name.upper(), name.upper()) for name in formats]
    listed = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
    return InvalidImage(
        f"Upload a valid image: this file is not a {listed} image, or it is corrupted."
    )


def _walk(data: bytes, formats: Sequence[str], max_frames: int) -> Layout | None:
    try:
        return read_layout(data, formats, max_frames)
    except InvalidImage:
        raise
    except Exception as exc:  # a slip in our own walk over hostile bytes must not be a 500
        raise not_an_image(formats) from exc


def _open(data: bytes, formats: Sequence[str], layout: Layout | None, limit: int) -> SourceInfo:
    try:
        with Image.open(io.BytesIO(data), formats=list(formats)) as image:
            _check_mpo_index(image)
            fmt = "JPEG" if image.format == "MPO" else image.format
            same = layout is not None and layout.format == fmt
            if layout is not None and layout.format in HEIF_FORMATS and not same:
                # pillow-heif opens AVIF too, and then can't decode it: list "AVIF" first.
                raise not_an_image(formats)
            frames = layout.frames if same else getattr(image, "n_frames", 1)
            width, height = image.size
            if _orientation(image) in _TRANSPOSED:
                width, height = height, width
            return SourceInfo(fmt, width, height, frames, image.mode)
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage(
            f"Image is too large; the limit is {_megapixels(limit)} megapixels."
        ) from exc
    except Exception as exc:  # Pillow raises many types on hostile input; all mean "not an image"
        raise not_an_image(formats) from exc


def _check_mpo_index(image: Image.Image) -> None:
    # Pillow falls back to plain JPEG with a warning when the MPO index is malformed; we can't
    # catch warnings thread-safely, so ask the same question directly.
    if image.format in ("JPEG", "MPO"):
        image._getmp()  # raises SyntaxError on a malformed index


def _orientation(image: Image.Image) -> int | None:
    # Not image.getexif(): on a PNG it decodes the whole image looking for a late eXIf chunk,
    # and it takes XMP's tiff:Orientation, which browsers and libvips ignore.
    return exif_orientation(image.info.get("exif") or b"")


def exif_orientation(exif: bytes) -> int | None:
    """The EXIF orientation tag as Pillow parses it; None if absent or unreadable."""
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        value = parsed.get(0x0112)
    except Exception:  # a broken EXIF block doesn't make a broken image
        return None
    return value if isinstance(value, int) else None  # hostile tags hold tuples, bytes, ...


def _check_limits(
    width: int, height: int, frames: int, limit: int, max_frames: int, pixels: int | None = None
) -> None:
    area = max(width * height, pixels or 0)  # pixels: what decoding allocates, where known
    if area > limit:
        raise InvalidImage(
            f"Image is {_megapixels(area)} megapixels; the limit is {_megapixels(limit)}."
        )
    if frames > max_frames:
        raise InvalidImage(f"Image has too many frames; the limit is {max_frames}.")
    if area * frames > limit:
        raise InvalidImage(
            f"Image is {_megapixels(area * frames)} megapixels across its {frames} "
            f"frames; the limit is {_megapixels(limit)}."
        )


def _megapixels(pixels: int) -> str:
    value = pixels / 1_000_000
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"  # 144, 8.3, 0.5


# --- Container walks ----------------------------------------------------------------------
# Each walk yields the file's top-level blocks in order. A block's ``start`` is where the
# previous block ended (stray bytes between blocks belong to the next one), so the blocks
# tile the file and joining them rebuilds it byte for byte. A walk stops quietly at the
# end marker or where the data runs out; the layouts and the decoders judge what that means.


class Block(NamedTuple):
    kind: int | bytes  # JPEG marker; PNG/RIFF chunk type; GIF b"," image, b";" end, b"!"+label
    start: int
    body: int  # where the payload starts (after marker and length, chunk header, ...)
    end: int


@dataclass(frozen=True)
class Layout:
    """What a container walk found: the format, the canvas size if seen, the frame count."""

    format: str
    size: tuple[int, int] | None
    frames: int
    pixels: int | None = None  # decoded pixels per frame, where more than the size says
    refusal: InvalidImage | None = None  # raised after the limits, which say more


class Budget:
    """Caps the blocks a walk visits, so a file of tiny blocks can't cost seconds of CPU."""

    def __init__(self, data: bytes) -> None:
        # Real files average hundreds of bytes a block; 1 per 200 bytes leaves room for odd ones.
        self.left = 20_000 + len(data) // 200

    def spend(self, blocks: int = 1) -> None:
        self.left -= blocks
        if self.left < 0:
            raise InvalidImage(
                "Upload a valid image: this file is made of an unreasonable number of "
                "tiny blocks for its size, which no real image needs."
            )


def read_layout(data: bytes, formats: Sequence[str], max_frames: int) -> Layout | None:
    """Walk the container if it is one we know and allow; None otherwise (Pillow decides)."""
    fmt = sniff(data)
    allowed = {name.upper() for name in formats}
    if fmt in HEIF_FORMATS and allowed.intersection(HEIF_FORMATS):
        return _heif_layout(data, formats, max_frames)  # the codec, not the brand, decides
    if fmt is None or fmt not in allowed:
        return None
    size, frames = _LAYOUTS[fmt](data, max_frames)
    return Layout(fmt, size, frames)


def sniff(data: bytes) -> str | None:
    """The container format from its signature, as Pillow's own ``_accept`` checks do."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return isobmff.sniff(data)  # HEIF or AVIF, from the brands


# JPEG: segments after SOI. SOS carries its entropy-coded data up to the next real marker.
SOS, EOI, APP1 = 0xDA, 0xD9, 0xE1
_NO_LENGTH = {0x01, 0xD8, *range(0xD0, 0xD8)}  # TEM, SOI and RSTn stand alone
_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG and DAC share the range
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")  # not stuffing (FF00), not RSTn
_NOT_FF = re.compile(rb"[^\xff]")


def jpeg_segments(data: bytes) -> Iterator[Block]:
    """JPEG segments from after SOI through EOI."""
    budget, start = Budget(data), 2
    pos = start
    while (ff := data.find(b"\xff", pos)) >= 0 and (found := _NOT_FF.search(data, ff)):
        marker = found.start()
        budget.spend(1 + marker - pos)  # Pillow steps through junk and fill bytes one by one
        if data[marker] == 0:  # an escaped FF outside a scan: junk, as Pillow reads it
            pos = marker + 1
            continue
        body, end = _jpeg_segment_end(data, marker)
        if end is None:
            return
        yield Block(data[marker], start, body, end)
        if data[marker] == EOI:
            return
        start = pos = end


def _jpeg_segment_end(data: bytes, marker: int) -> tuple[int, int | None]:
    if data[marker] in _NO_LENGTH or data[marker] == EOI:
        return marker + 1, marker + 1
    body, end = marker + 3, marker + 1 + int.from_bytes(data[marker + 1 : marker + 3])
    if body > len(data) or end > len(data):
        return body, None
    if end < body:  # a length under 2: Pillow reads no payload and goes on from here
        return body, body
    if data[marker] == SOS:
        found = _NEXT_MARKER.search(data, end)
        end = found.start() if found else len(data)
    return body, end


def _jpeg_layout(data: bytes, max_frames: int) -> tuple[tuple[int, int] | None, int]:
    size, scanning = None, False
    for block in jpeg_segments(data):  # to EOI, so later walks over the same file stay in budget
        if block.kind in _SOF and not scanning and block.end - block.body >= 5:
            height, width = struct.unpack_from(">HH", data, block.body + 1)
            size = (width, height)  # the last one before the scan, as Pillow reads it
        scanning = scanning or block.kind == SOS
    if not scanning:  # strip_location() must understand every header segment, EXIF included
        raise InvalidImage("Upload a valid image: this JPEG file is truncated or malformed.")
    return size, 1  # the extra images of an MPO file are not frames we show


# PNG: chunks after the signature, through IEND.
def png_chunks(data: bytes) -> Iterator[Block]:
    """PNG chunks from after the signature through IEND."""
    budget, pos = Budget(data), 8
    while pos + 12 <= len(data):
        budget.spend()
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            return
        yield Block(kind, pos, pos + 8, end)
        if kind == b"IEND":
            return
        pos = end


def _png_layout(data: bytes, max_frames: int) -> tuple[tuple[int, int] | None, int]:
    chunks = list(png_chunks(data))
    kinds = [chunk.kind for chunk in chunks]
    if b"IEND" not in kinds and (chunks[-1].end if chunks else 8) < len(data):
        # A chunk cut short. A missing IEND alone is fine: every pixel is there.
        raise InvalidImage("Upload a valid image: this PNG file is truncated.")
    ihdr = chunks[0] if kinds[:1] == [b"IHDR"] and chunks[0].end - chunks[0].body >= 12 else None
    size = struct.unpack_from(">II", data, ihdr.body) if ihdr else None
    return size, _apng_frames(data, chunks, kinds)


def _apng_frames(data: bytes, chunks: list[Block], kinds: list[bytes]) -> int:
    """Frames as Pillow counts them; refuses the animations Pillow warns about or fails on."""
    if b"fdAT" in kinds and kinds.index(b"fdAT") < _index(kinds, b"fcTL"):
        raise InvalidImage("Upload a valid image: this animated PNG has frame data without frames.")
    head = _index(kinds, b"IDAT")  # Pillow reads animation control before the image only
    controls = [chunk for chunk in chunks[:head] if chunk.kind == b"acTL"]
    if not controls:
        return 1
    frames = int.from_bytes(data[controls[0].body : controls[0].body + 4])
    too_short = controls[0].end - controls[0].body < 12
    if len(controls) > 1 or too_short or not 0 < frames <= 0x8000_0000:
        raise InvalidImage("Upload a valid image: this animated PNG has a malformed frame count.")
    # Like Pillow, a still image before the animation (an IDAT before any fcTL) is a frame.
    return frames + (b"fcTL" not in kinds[:head])


def _index(kinds: list[bytes], kind: bytes) -> int:
    return kinds.index(kind) if kind in kinds else len(kinds)


# GIF: extension and image blocks after the header and global colour table, then ";".
def gif_header_end(data: bytes) -> int:
    """Where the blocks start: after the 13-byte header and any global colour table."""
    flags = data[10] if len(data) > 10 else 0
    return 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)


def gif_blocks(data: bytes) -> Iterator[Block]:
    """GIF blocks: b"!" + label for extensions, b"," for images (body: the descriptor after
    the comma), b";" for the trailer."""
    budget = Budget(data)
    start = pos = gif_header_end(data)
    while pos < len(data):
        budget.spend()
        kind, sub_blocks = _gif_block_head(data, pos)
        if kind is None:
            pos += 1  # Pillow skips stray bytes too
            continue
        end = sub_blocks if kind == b";" else _sub_blocks_end(data, sub_blocks, budget)
        if end is None:
            return
        yield Block(kind, start, pos + (1 if kind == b"," else 2), end)
        if kind == b";":
            return
        start = pos = end


def _gif_block_head(data: bytes, pos: int) -> tuple[bytes | None, int]:
    """The block's kind and where its sub-blocks start."""
    introducer = data[pos : pos + 1]
    if introducer == b"!" and pos + 2 <= len(data):
        return data[pos : pos + 2], pos + 2
    if introducer == b"," and pos + 10 <= len(data):
        flags = data[pos + 9]
        table = 3 << ((flags & 7) + 1) if flags & 0x80 else 0
        return b",", pos + 10 + table + 1  # after the local colour table and LZW code size
    if introducer == b";":
        return b";", pos + 1
    return None, pos


def _sub_blocks_end(data: bytes, pos: int, budget: Budget) -> int | None:
    while pos < len(data):
        if data[pos] == 0:
            return pos + 1
        budget.spend()
        pos += data[pos] + 1
    return None


def _gif_layout(data: bytes, max_frames: int) -> tuple[tuple[int, int] | None, int]:
    width, height = struct.unpack_from("<HH", data, 6) if len(data) >= 10 else (0, 0)
    frames = 0
    for block in gif_blocks(data):
        if block.kind == b"," and frames == 0:
            left, top, w, h = struct.unpack_from("<4H", data, block.body)
            width, height = max(width, left + w), max(height, top + h)  # as Pillow grows it
        frames += block.kind == b","
        if frames > max_frames:
            break  # enough to refuse; counting the rest is work an attacker chose
    return (width, height), max(frames, 1)


# RIFF (WebP): chunks after "RIFF", size, "WEBP", within the RIFF size.
def riff_chunks(data: bytes) -> Iterator[Block]:
    """RIFF chunks after the 12-byte header, within the declared RIFF size."""
    budget, pos = Budget(data), 12
    limit = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    while pos + 8 <= limit:
        budget.spend()
        kind, size = struct.unpack_from("<4sI", data, pos)
        end = pos + 8 + size + (size & 1)  # payloads are padded to an even length
        if end > limit + (size & 1):  # writers often drop the final padding byte
            return
        yield Block(kind, pos, pos + 8, min(end, limit))
        pos = end


def _webp_layout(data: bytes, max_frames: int) -> tuple[tuple[int, int] | None, int]:
    size, frames, end = None, 0, 12
    for block in riff_chunks(data):
        size = size or _webp_size(block, data)
        frames, end = frames + (block.kind == b"ANMF"), block.end
        if frames > max_frames:
            return size, frames
    if end < min(len(data), 8 + int.from_bytes(data[4:8], "little")):
        raise InvalidImage(
            "Upload a valid image: this WebP file is truncated."
        )  # a chunk cut short
    return size, max(frames, 1)


def _webp_size(block: Block, data: bytes) -> tuple[int, int] | None:
    body = data[block.body : min(block.end, block.body + 10)]
    if block.kind == b"VP8X" and len(body) >= 10:
        return 1 + int.from_bytes(body[4:7], "little"), 1 + int.from_bytes(body[7:10], "little")
    if block.kind == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", body, 6)
        return width & 0x3FFF, height & 0x3FFF
    if block.kind == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


_LAYOUTS = {"JPEG": _jpeg_layout, "PNG": _png_layout, "GIF": _gif_layout, "WEBP": _webp_layout}


# HEIF and AVIF: boxes and items (see isobmff), the primary picture's codec names the format.
def _heif_layout(data: bytes, formats: Sequence[str], max_frames: int) -> Layout:
    try:
        heif = isobmff.parse(data, Budget(data))
        fmt = isobmff.codec(heif, heif.primary)
        if fmt not in {name.upper() for name in formats}:
            raise not_an_image(formats)
        if isobmff.crops(data, heif.primary) and fmt == "AVIF":
            # libheif (the vips engine) crops to it, Pillow's AVIF plugin doesn't: two pictures.
            raise InvalidImage(
                "Upload a valid image: this AVIF file is cropped by its container (clap), "
                "which is not supported; save it again without the crop, or as JPEG."
            )
        frames = len(isobmff.top_level_images(heif))
        if frames > max_frames:
            return Layout(fmt, (1, 1), frames)  # enough to refuse
        planes = [heif.primary, *isobmff.alpha_planes(data, heif, heif.primary)]
        pixels = sum(isobmff.decoded_pixels(data, heif, plane) for plane in planes)
        size = isobmff.ispe(data, heif.primary)
    except isobmff.Unsupported as exc:
        raise InvalidImage(str(exc)) from exc
    except isobmff.Malformed as exc:
        raise _malformed(data) from exc
    try:
        for plane in planes:
            isobmff.check_coded_sizes(data, heif, plane)
    except isobmff.Malformed as exc:
        refusal = _malformed(data)
        refusal.__cause__ = exc
        return Layout(fmt, size, frames, pixels, refusal)
    return Layout(fmt, size, frames, pixels)


def _malformed(data: bytes) -> InvalidImage:
    name = isobmff.name(sniff(data) or "HEIF")
    return InvalidImage(f"Upload a valid image: this {name} file is truncated or malformed.")
