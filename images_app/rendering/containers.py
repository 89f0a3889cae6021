"""Container walks: the blocks of JPEG, PNG, GIF, WebP (RIFF) and HEIF/AVIF files, read
without decoding anything, in time linear in the file's size.

Each walk yields the file's top-level blocks in order. A block's ``start`` is where the
previous block ended (stray bytes between blocks belong to the next one), so the blocks
tile the file and joining them rebuilds it byte for byte. A walk stops quietly at the
end marker or where the data runs out; the layouts and the decoders judge what that means.

Every step a walk takes is counted by a ``Budget`` of steps in proportion to the file's size:
a file of tiny blocks (empty JPEG segments, PNG chunks, one-byte GIF sub-blocks, ISOBMFF
boxes) is refused before it costs seconds of CPU here or in Pillow's own header parsers,
which step through the same blocks in Python. ``read_layout`` turns a walk into a
``Layout``: the format, the canvas size, the frame count; the upload policy (``probe``)
decides what is accepted.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from . import isobmff
from .errors import InvalidImage, not_an_image
from .formats import HEIF_FORMATS, display_name


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
    bytes_per_pixel: int = 4  # of the decoded picture, as the engines hold it
    shown: tuple[int, int] | None = None  # HEIF: as displayed (clap, irot), alpha or not,
    alpha: bool = False  # for the files libheif decodes and Pillow's AVIF plugin can't open


class Budget:
    """The work counter of one walk: the steps it takes (blocks, boxes, table entries, bytes
    of junk Pillow would step through one by one), capped in proportion to the file's size,
    so a file of tiny blocks can't cost seconds of CPU. ``steps`` is what was spent."""

    def __init__(self, data: bytes) -> None:
        # Real files average hundreds of bytes a block; 1 per 200 bytes leaves room for odd ones.
        self.limit = 20_000 + len(data) // 200
        self.steps = 0

    def spend(self, steps: int = 1, why: str | None = None) -> None:
        """Count ``steps``; past the limit, refuse with ``why`` (what the steps were spent
        on, where that names the problem better) or the tiny-blocks message."""
        self.steps += steps
        if self.steps > self.limit:
            raise InvalidImage(
                why
                or "Upload a valid image: this file is made of an unreasonable number of "
                "tiny blocks for its size, which no real image needs."
            )


def read_layout(data: bytes, formats: Sequence[str], max_frames: int) -> Layout | None:
    """Walk the container if it is one we know and allow; None otherwise (Pillow decides)."""
    fmt = signature_format(data)
    allowed = {name.upper() for name in formats}
    if fmt in HEIF_FORMATS and allowed.intersection(HEIF_FORMATS):
        return _heif_layout(data, formats, max_frames)  # the codec, not the brand, decides
    if fmt is None or fmt not in allowed:
        return None
    return _LAYOUTS[fmt](data, max_frames)


def signature_format(data: bytes) -> str | None:
    """The container format from its signature, as Pillow's own ``_accept`` checks do."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(PNG_SIGNATURE):
        return "PNG"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return isobmff.brand_format(data)  # HEIF or AVIF, from the brands


# JPEG: segments after SOI. SOS carries its entropy-coded data up to the next real marker.
SOS, EOI, APP1 = 0xDA, 0xD9, 0xE1
_NO_LENGTH = {0x01, 0xD8, *range(0xD0, 0xD8)}  # TEM, SOI and RSTn stand alone
_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG and DAC share the range
_JPEG_DAMAGED = (
    "Upload a valid image: this JPEG file is damaged: much of it is neither image data nor "
    "the segments that describe it (the data after byte {at} is out of place)."
)
_HUFFMAN_SOF = {0xC0, 0xC1, 0xC2}  # baseline, extended and progressive: what Pillow decodes
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")  # not stuffing (FF00), not RSTn
_NOT_FF = re.compile(rb"[^\xff]")


def jpeg_segments(data: bytes) -> Iterator[Block]:
    """JPEG segments from after SOI through EOI."""
    budget, start = Budget(data), 2
    pos = start
    while (ff := data.find(b"\xff", pos)) >= 0 and (found := _NOT_FF.search(data, ff)):
        marker = found.start()
        junk = ff - pos + (data[marker] == 0)  # bytes outside any segment: damage
        why = _JPEG_DAMAGED.format(at=pos) if junk else None
        budget.spend(1 + marker - pos, why)  # Pillow steps through junk and fill bytes one by one
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


def _jpeg_layout(data: bytes, max_frames: int) -> Layout:
    sof, scanned, scanning = None, 0, False
    for block in jpeg_segments(data):  # to EOI, so later walks over the same file stay in budget
        if block.kind in _SOF and not scanning and block.end - block.body >= 6:
            sof = block  # the last one before the scan, as Pillow reads it
        if block.kind == SOS:
            scanning = True
            header = int.from_bytes(data[block.body - 2 : block.body])  # its length field's
            scanned += block.end - (block.body - 2 + header)
    if not scanning:  # the metadata rewrite must understand every header segment
        raise InvalidImage("Upload a valid image: this JPEG file is truncated or malformed.")
    if sof is None:
        return Layout("JPEG", None, 1)
    precision, height, width, components = struct.unpack_from(">BHHB", data, sof.body)
    depth = 2 if precision > 8 else 1
    layout = Layout("JPEG", (width, height), 1, bytes_per_pixel=max(1, components) * depth)
    # The extra images of an MPO file are not frames we show.
    return _with_scan_check(layout, sof.kind, scanned)


def _with_scan_check(layout: Layout, sof: int, scanned: int) -> Layout:
    """Refuse a Huffman-coded JPEG whose entropy-coded data is far too short for its size.

    libjpeg paints what is missing grey and says nothing Pillow can see, so a 653-byte file
    declaring 7745 x 7745 would allocate 180 MB. Every 8 x 8 block of the largest component
    costs at least two bits in a sequential scan and one in a progressive DC scan, so a real
    file has at least blocks / 8 bytes of scan; we refuse below blocks / 64. Arithmetic
    coding (SOF9 and up) can go lower, and is left to the decoder.
    """
    width, height = layout.size
    blocks = -(-width // 8) * -(-height // 8)
    if sof not in _HUFFMAN_SOF or scanned >= blocks // 64:
        return layout
    refusal = InvalidImage(
        f"Upload a valid image: this JPEG file is truncated or damaged: it declares "
        f"{width} x {height} pixels but holds only {scanned} bytes of image data, far "
        f"too few for that size."
    )
    return replace(layout, refusal=refusal)


# PNG: chunks after the signature, through IEND.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


def _png_layout(data: bytes, max_frames: int) -> Layout:
    chunks = list(png_chunks(data))
    kinds = [chunk.kind for chunk in chunks]
    if b"IEND" not in kinds and (chunks[-1].end if chunks else 8) < len(data):
        # A chunk cut short. A missing IEND alone is fine: every pixel is there.
        raise InvalidImage("Upload a valid image: this PNG file is truncated.")
    ihdr = chunks[0] if kinds[:1] == [b"IHDR"] and chunks[0].end - chunks[0].body >= 13 else None
    if ihdr is None:
        return Layout("PNG", None, _apng_frames(data, chunks, kinds))
    width, height, depth, colour = struct.unpack_from(">IIBB", data, ihdr.body)
    samples = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}.get(colour, 4)  # a palette decodes to RGB(A)
    frames = _apng_frames(data, chunks, kinds)
    layout = Layout("PNG", (width, height), frames, bytes_per_pixel=samples * ((depth + 7) // 8))
    damaged = next((chunk for chunk in chunks if not _png_crc_ok(data, chunk)), None)
    if damaged is not None and _png_critical(damaged.kind):
        kind = damaged.kind.decode("latin-1")
        refusal = InvalidImage(
            f"Upload a valid image: this PNG file is damaged: its {kind!r} chunk at byte "
            f"{damaged.start} fails its checksum (CRC), so its pixels can't be trusted."
        )
        return replace(layout, refusal=refusal)
    return layout


def _png_critical(kind: bytes) -> bool:
    """Critical chunks (PNG 5.4: an upper-case first letter), and APNG's frame data."""
    return kind[:1].isupper() or kind == b"fdAT"


def _png_crc_ok(data: bytes, chunk: Block) -> bool:
    return zlib.crc32(data[chunk.start + 4 : chunk.end - 4]) == int.from_bytes(
        data[chunk.end - 4 : chunk.end]
    )


def without_damaged_chunks(data: bytes) -> bytes:
    """``data`` without the PNG ancillary chunks whose checksum fails, as libpng reads it
    (it skips them with a warning; Pillow refuses the whole file). Anything else: as it is."""
    if not data.startswith(PNG_SIGNATURE):
        return data
    chunks = list(png_chunks(data))
    if all(_png_crc_ok(data, chunk) for chunk in chunks):
        return data
    end = chunks[-1].end if chunks else len(data)
    kept = [data[c.start : c.end] for c in chunks if _png_critical(c.kind) or _png_crc_ok(data, c)]
    return data[:8] + b"".join(kept) + data[end:]


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


def _gif_layout(data: bytes, max_frames: int) -> Layout:
    screen = struct.unpack_from("<HH", data, 6) if len(data) >= 10 else (0, 0)
    (width, height), frames, refusal = screen, 0, None
    for block in gif_blocks(data):
        if block.kind != b",":
            continue
        left, top, w, h = struct.unpack_from("<4H", data, block.body)
        if refusal is None and (w > screen[0] or h > screen[1]):
            refusal = InvalidImage(
                f"Upload a valid image: this GIF file has a frame of {w} x {h} pixels on a "
                f"screen of {screen[0]} x {screen[1]}; a frame larger than its screen is "
                "not a real animation."
            )
        if frames == 0:
            width, height = max(width, left + w), max(height, top + h)  # as Pillow grows it
        frames += 1
        if frames > max_frames:
            break  # enough to refuse; counting the rest is work an attacker chose
    return Layout("GIF", (width, height), max(frames, 1), refusal=refusal)


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


def _webp_layout(data: bytes, max_frames: int) -> Layout:
    size, frames, end = None, 0, 12
    for block in riff_chunks(data):
        size = size or _webp_size(block, data)
        frames, end = frames + (block.kind == b"ANMF"), block.end
        if frames > max_frames:
            return Layout("WEBP", size, frames)
    if end < min(len(data), 8 + int.from_bytes(data[4:8], "little")):
        raise InvalidImage(
            "Upload a valid image: this WebP file is truncated."
        )  # a chunk cut short
    return Layout("WEBP", size, max(frames, 1))


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
        frames = len(isobmff.top_level_images(heif))
        if frames > max_frames:
            return Layout(fmt, (1, 1), frames)  # enough to refuse
        planes = [heif.primary, *isobmff.alpha_planes(data, heif, heif.primary)]
        pixels = sum(isobmff.decoded_pixels(data, heif, plane) for plane in planes)
        size = isobmff.ispe(data, heif.primary)
        shown = isobmff.displayed_size(data, heif, heif.primary)
        _check_alpha_crop(data, heif, planes)
    except isobmff.Unsupported as exc:
        raise InvalidImage(str(exc)) from exc
    except isobmff.BadAperture as exc:
        raise _bad_aperture(data, exc) from exc
    except isobmff.Malformed as exc:
        raise _malformed(data) from exc
    layout = Layout(fmt, size, frames, pixels, shown=shown, alpha=len(planes) > 1)
    try:
        for plane in planes:
            isobmff.check_coded_sizes(data, heif, plane)
    except isobmff.Malformed as exc:
        refusal = _malformed(data)
        refusal.__cause__ = exc
        return replace(layout, refusal=refusal)
    return layout


def _check_alpha_crop(data: bytes, heif: isobmff.Heif, planes: list[isobmff.Item]) -> None:
    """Refuse a picture cropped (``clap``) whose alpha plane is not cropped alike: libheif
    squeezes the whole plane onto the cropped picture, libavif's callers crop it with the
    picture; the decoders disagree. Encoders give both the same crop."""
    size = isobmff.ispe(data, heif.primary)
    crop = None if size is None else isobmff.clean_aperture(data, heif.primary, size)
    if crop is None:
        return
    for plane in planes[1:]:
        plane_size = isobmff.ispe(data, plane) or size
        if plane_size != size or isobmff.clean_aperture(data, plane, plane_size) != crop:
            name = display_name(signature_format(data) or "HEIF")
            raise isobmff.Unsupported(
                f"Upload a valid image: this {name} file crops its picture (clean aperture, "
                "'clap') but not its transparency (alpha) plane alike, which decoders show "
                "differently; save it again without the crop, or as PNG."
            )


def _bad_aperture(data: bytes, exc: isobmff.BadAperture) -> InvalidImage:
    name = display_name(signature_format(data) or "HEIF")
    return InvalidImage(
        f"Upload a valid image: this {name} file is damaged: its crop (clean aperture, "
        f"'clap') {exc}."
    )


@dataclass(frozen=True)
class LibavifPlan:
    """What Pillow's AVIF plugin (libavif) needs to show an AVIF as libheif shows it: the
    crop (``clap``) it leaves undone, or why it can't show the file at all."""

    crop: tuple[int, int, int, int] | None = None  # (left, top, right, bottom), coded picture
    coded: tuple[int, int] | None = None  # the coded picture's size, before the crop
    refusal: InvalidImage | None = None


def libavif_plan(data: bytes) -> LibavifPlan:
    """The plan for an AVIF file the probe accepted (an empty one for anything else).

    libavif, unlike libheif, leaves the crop to its caller; and it refuses a derived primary
    picture (``iden``), an alpha plane without a declared size (``ispe``: older encoders
    left it out) or of another size than the picture; libheif shows them all.
    """
    if signature_format(data) != "AVIF":
        return LibavifPlan()
    try:
        heif = isobmff.parse(data, Budget(data))
        primary = heif.primary
        problem = _libavif_problem(data, heif)
        coded = isobmff.ispe(data, primary)
        aperture = None if coded is None else isobmff.clean_aperture(data, primary, coded)
    except (isobmff.Malformed, isobmff.Unsupported):
        return LibavifPlan()  # the probe refused it already; render() says so again
    if problem is not None:
        return LibavifPlan(
            refusal=InvalidImage(
                f"Upload a valid image: this AVIF file {problem}, which the AVIF decoder of "
                "this server (libavif) can't read; save it again, or as PNG or JPEG."
            )
        )
    if aperture is None or aperture == (0, 0, *coded):
        return LibavifPlan()
    left, top, width, height = aperture
    return LibavifPlan((left, top, left + width, top + height), coded)


def _libavif_problem(data: bytes, heif: isobmff.Heif) -> str | None:
    primary = heif.primary
    if primary.type == b"iden":
        return "shows its picture through a derived item (turned, mirrored or cropped)"
    size = isobmff.ispe(data, primary)
    for plane in isobmff.alpha_planes(data, heif, primary):
        plane_size = isobmff.ispe(data, plane)
        if plane_size is None:
            return "has a transparency (alpha) plane that does not declare its size"
        if size is not None and plane_size != size:
            return (
                f"has a transparency (alpha) plane of {plane_size[0]} x {plane_size[1]} "
                f"pixels for a picture of {size[0]} x {size[1]}"
            )
    return None


def _malformed(data: bytes) -> InvalidImage:
    name = display_name(signature_format(data) or "HEIF")
    return InvalidImage(f"Upload a valid image: this {name} file is truncated or malformed.")
