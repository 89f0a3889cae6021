"""Lossless metadata surgery on the original upload: location goes, every encoded pixel stays.

Location hides in more places than EXIF's GPS block: XMP packets (``exif:GPSLatitude``),
IPTC place names (JPEG APP13), ImageMagick's "Raw profile" PNG text chunks, and whole files
appended after the image (MPO frames, motion-photo videos with GPS of their own). So:

- the GPS IFD is removed from EXIF *in place*: its pointer leaves IFD0 (and IFD1), its bytes
  are zeroed and nothing else moves, so every other offset (maker notes, the thumbnail) stays
  valid and orientation is untouched;
- XMP, IPTC and the MPO index are dropped whole, as is anything after the image's end marker;
- everything else, the entropy-coded data first of all, is copied byte for byte.

HEIC and AVIF are edited strictly in place: their item locations are absolute file offsets,
so no byte may move. The EXIF item is cleaned as above; XMP (and any other ``mime`` item)
is blanked to an empty packet padded with spaces; boxes nobody reads (``free``, vendor
boxes, a motion photo's video in ``mpvd``) are zeroed, or cut off where nothing follows
them. A file whose metadata can't be located with certainty is refused (InvalidImage).
"""

from __future__ import annotations

import bisect
import re
import struct
import zlib
from collections.abc import Callable, Iterator

from PIL import Image

from . import isobmff
from .containers import (
    APP1,
    Block,
    Budget,
    gif_blocks,
    gif_header_end,
    jpeg_segments,
    png_chunks,
    riff_chunks,
)
from .errors import InvalidImage
from .formats import display_name
from .probe import exif_orientation

GPS_IFD = 0x8825
ORIENTATION = 0x0112
_BYTE_ORDERS = {b"II": "<", b"MM": ">"}
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_EXIF_PREFIX = re.compile(rb"(?:Exif\x00[\x00\xff]){0,2}")  # Pillow accepts it doubled, too
# A TIFF header and an IFD0 of no entries: EXIF that says nothing, and still parses.
_EMPTY_TIFF = {b"II": b"II*\0\x08\0\0\0" + bytes(6), b"MM": b"MM\0*\0\0\0\x08" + bytes(6)}
_EMPTY_XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>'


def strip_location(data: bytes, format: str) -> bytes:
    """``data`` without location metadata; encoded pixels, orientation and the rest kept.

    Raises ValueError for a format it can't clean, so allowing a new format without
    teaching this function fails loudly instead of serving location; InvalidImage for a
    HEIC or AVIF file whose metadata it can't locate with certainty.
    """
    strip = _STRIPPERS.get(format.upper())
    if strip is None:
        raise ValueError(f"strip_location() can't clean {format!r} files; teach it first.")
    return strip(data)


def clean_exif(exif: bytes) -> bytes | None:
    """EXIF (TIFF-structured, optionally behind "Exif\\0\\0") without GPS; None to drop it.

    Parsed: the GPS IFD is removed in place, same length. Unparseable, or hostile enough
    that the edit changed the orientation Pillow reads (overlapping offsets): a minimal EXIF
    with just that orientation (renditions were rotated by it), or None if there is none.
    """
    prefix = _EXIF_PREFIX.match(exif).end()
    tiff = exif[prefix:]
    try:
        cleaned = _without_gps(tiff)
    except (KeyError, ValueError, struct.error):
        cleaned = None
    orientation = exif_orientation(tiff)
    if cleaned is not None and exif_orientation(cleaned) == orientation:
        return exif[:prefix] + cleaned
    if orientation not in range(2, 9):
        return None  # 1 or junk: the image displays as stored, no EXIF needed
    minimal = Image.Exif()
    minimal[ORIENTATION] = orientation
    return exif[:prefix] + minimal.tobytes()[6:]  # tobytes() adds its own "Exif\0\0"


def _without_gps(tiff: bytes) -> bytes:
    order = _BYTE_ORDERS[tiff[:2]]
    magic, offset = struct.unpack_from(order + "HI", tiff, 2)
    if magic != 42:
        raise ValueError("not a TIFF header")
    out = bytearray(tiff)
    for _ in range(2):  # IFD0, then IFD1 (the thumbnail's); nothing else may point at GPS
        if not offset:
            break
        offset = _drop_gps_pointer(out, order, offset)
    return bytes(out)


def _drop_gps_pointer(out: bytearray, order: str, offset: int) -> int:
    """Remove GPS entries from the IFD at ``offset``, erase what they point to; next IFD."""
    (count,) = struct.unpack_from(order + "H", out, offset)
    table = offset + 2
    (next_offset,) = struct.unpack_from(order + "I", out, table + 12 * count)
    entries = [bytes(out[at : at + 12]) for at in range(table, table + 12 * count, 12)]
    kept = [entry for entry in entries if struct.unpack_from(order + "H", entry)[0] != GPS_IFD]
    if len(kept) == count:
        return next_offset
    for entry in set(entries) - set(kept):
        _erase_ifd(out, order, struct.unpack_from(order + "I", entry, 8)[0])
    # The shortened table keeps its place; the freed tail becomes zero padding.
    rewritten = struct.pack(order + "H", len(kept)) + b"".join(kept)
    rewritten += struct.pack(order + "I", next_offset)
    out[offset : table + 12 * count + 4] = rewritten.ljust(2 + 12 * count + 4, b"\0")
    return next_offset


def _erase_ifd(out: bytearray, order: str, offset: int) -> None:
    """Zero an IFD's table and the values it points to.

    Raises ValueError if any of it lies outside the block: GPS data we can't locate could
    be anywhere, so the caller falls back to keeping nothing but the orientation.
    """
    (count,) = struct.unpack_from(order + "H", out, offset)
    table_end = offset + 2 + 12 * count + 4
    if table_end > len(out):
        raise ValueError("GPS IFD runs past the EXIF block")
    for at in range(offset + 2, table_end - 4, 12):
        kind, number, value_at = struct.unpack_from(order + "HII", out, at + 2)
        size = _TYPE_SIZES.get(kind, 1) * number
        if size > 4:  # values of 4 bytes or fewer sit in the entry itself
            if value_at + size > len(out):
                raise ValueError("GPS value outside the EXIF block")
            out[value_at : value_at + size] = bytes(size)
    out[offset:table_end] = bytes(table_end - offset)


# --- Containers -----------------------------------------------------------------------------


def _rebuild(
    data: bytes,
    head: int,
    blocks: Iterator[Block],
    edit: Callable[[bytes, Block], bytes],
    last: int | bytes,
) -> bytes:
    """Join ``data[:head]`` and each block as ``edit`` returns it, up to the block of kind
    ``last``; whatever follows it goes. A file that ends early keeps its unparsed rest:
    it may be pixels the decoder still used."""
    parts, pos = [data[:head]], head
    for block in blocks:
        parts.append(edit(data, block))
        pos = block.end
        if block.kind == last:
            return b"".join(parts)
    parts.append(data[pos:])
    return b"".join(parts)


def _strip_jpeg(data: bytes) -> bytes:
    return _rebuild(data, 2, jpeg_segments(data), _jpeg_segment, 0xD9)


def _jpeg_segment(data: bytes, block: Block) -> bytes:
    if block.kind == APP1 and data.startswith(b"Exif\x00", block.body):
        exif = clean_exif(data[block.body : block.end])
        if exif is None:
            return b""
        head = data[block.start : block.body - 2]  # fill bytes, FF and marker
        return head + struct.pack(">H", len(exif) + 2) + exif
    if block.kind in (APP1, 0xED):  # XMP and other APP1 uses; Photoshop IRB carrying IPTC
        return b""
    if block.kind == 0xE2 and data.startswith(b"MPF\x00", block.body):
        return b""  # the MPO index points at the appended images, which go
    return data[block.start : block.end]


def _strip_png(data: bytes) -> bytes:
    return _rebuild(data, 8, png_chunks(data), _png_chunk, b"IEND")


def _png_chunk(data: bytes, block: Block) -> bytes:
    if block.kind == b"eXIf":
        payload = data[block.body : block.end - 4]
        exif = clean_exif(payload)
        if exif == payload:
            return data[block.start : block.end]
        return b"" if exif is None else _png_chunk_bytes(b"eXIf", exif)
    if block.kind in (b"tEXt", b"zTXt", b"iTXt") and _is_metadata_text(data, block):
        return b""
    return data[block.start : block.end]


def _is_metadata_text(data: bytes, block: Block) -> bool:
    # XMP, and ImageMagick's hex dumps of EXIF, IPTC and XMP ("Raw profile type exif", ...).
    keyword = data[block.body : min(block.end, block.body + 80)].partition(b"\x00")[0]
    return keyword == b"XML:com.adobe.xmp" or keyword.startswith(b"Raw profile type")


def _png_chunk_bytes(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _strip_webp(data: bytes) -> bytes:
    blocks = list(riff_chunks(data))
    chunks = [_webp_chunk(data, block) for block in blocks]
    dropped = {block.kind for block, chunk in zip(blocks, chunks, strict=True) if not chunk}
    chunks = [_vp8x_without(chunk, dropped) for chunk in chunks]
    limit = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    rest = data[blocks[-1].end if blocks else 12 : limit]  # unparsed, possibly pixels: kept
    body = b"WEBP" + b"".join(chunks) + rest
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _webp_chunk(data: bytes, block: Block) -> bytes:
    if block.kind == b"XMP ":
        return b""
    if block.kind != b"EXIF":
        return data[block.start : block.end]
    size = struct.unpack_from("<I", data, block.start + 4)[0]
    exif = clean_exif(data[block.body : block.body + size])
    if exif is None:
        return b""
    return b"EXIF" + struct.pack("<I", len(exif)) + exif + b"\0" * (len(exif) & 1)


def _vp8x_without(chunk: bytes, dropped: set[bytes]) -> bytes:
    """A VP8X chunk with the EXIF (0x08) and XMP (0x04) flags of dropped chunks cleared."""
    if not chunk.startswith(b"VP8X") or len(chunk) < 9:
        return chunk
    clear = (0x08 if b"EXIF" in dropped else 0) | (0x04 if b"XMP " in dropped else 0)
    return chunk[:8] + bytes([chunk[8] & ~clear]) + chunk[9:]


def _strip_gif(data: bytes) -> bytes:
    return _rebuild(data, gif_header_end(data), gif_blocks(data), _gif_block, b";")


def _gif_block(data: bytes, block: Block) -> bytes:
    # The XMP application extension: identifier "XMP Data", authentication code "XMP".
    if block.kind == b"!\xff" and data[block.body : block.body + 12] == b"\x0bXMP DataXMP":
        return b""
    return data[block.start : block.end]


def _strip_heif(data: bytes, fmt: str = "HEIF") -> bytes:
    try:
        heif = isobmff.parse(data, Budget(data))
        out = bytearray(data)
        _clean_items(data, heif, out)
        end = _blank_unread_boxes(heif, out)
    except InvalidImage:  # the budget's refusal says what is wrong already
        raise
    except (ValueError, struct.error) as exc:  # Malformed and Unsupported are ValueErrors
        raise InvalidImage(
            f"This {display_name(fmt)} file's metadata could not be read safely; export it as JPEG."
        ) from exc
    return bytes(out[:end])


def _clean_items(data: bytes, heif: isobmff.Heif, out: bytearray) -> None:
    """Clean EXIF items and blank mime (XMP) items, each over its own extents."""
    metadata = [item for item in heif.items.values() if item.type in (b"Exif", b"mime")]
    _check_apart(heif, metadata)
    for item in metadata:
        payload = isobmff.payload(data, item)
        cleaned = _clean_exif_item(payload) if item.type == b"Exif" else _blank_mime(item, payload)
        for start, end in item.extents:
            out[start:end], cleaned = cleaned[: end - start], cleaned[end - start :]


def _check_apart(heif: isobmff.Heif, metadata: list[isobmff.Item]) -> None:
    """Each metadata extent must lie in mdat or idat, and share no byte with another extent:
    overwriting it must change nothing but that item."""
    holders = [box for box in (*heif.boxes, *heif.meta_children) if box.kind in (b"mdat", b"idat")]
    holders = _Spans((box.body, box.end) for box in holders)
    for item in metadata:
        if item.construction == 2:
            raise ValueError(f"item {item.id} is built from other items")
        if not all(holders.holds(start, end) for start, end in item.extents):
            raise ValueError(f"item {item.id} lies outside mdat and idat")
    ids = {item.id for item in metadata}
    extents = sorted(
        (start, end, item.id in ids)
        for item in heif.items.values()
        for start, end in item.extents
        if end > start
    )
    any_end = meta_end = 0
    for start, end, is_metadata in extents:
        if start < meta_end or (is_metadata and start < any_end):
            raise ValueError("a metadata item shares bytes with another item")
        any_end = max(any_end, end)
        meta_end = max(meta_end, end) if is_metadata else meta_end


class _Spans:
    """Byte ranges, merged and sorted, for overlap questions in log time."""

    def __init__(self, spans) -> None:
        merged: list[list[int]] = []
        for start, end in sorted(span for span in spans if span[1] > span[0]):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.starts = [start for start, _ in merged]
        self.ends = [end for _, end in merged]

    def holds(self, start: int, end: int) -> bool:
        at = bisect.bisect_right(self.starts, start) - 1
        return at >= 0 and end <= self.ends[at]

    def touches(self, start: int, end: int) -> bool:
        at = bisect.bisect_right(self.ends, start)
        return at < len(self.starts) and self.starts[at] < end


def _clean_exif_item(payload: bytes) -> bytes:
    """An Exif item (a 4-byte offset to the TIFF header, then the block) cleaned in place:
    GPS removed by ``clean_exif``; where that falls back to less, the rest zero-padded."""
    block = payload[4:]
    prefix = _EXIF_PREFIX.match(block).end()
    order = block[prefix : prefix + 2]
    # libavif refuses a file whose offset misses the header; libvips reads from byte 4.
    if payload[:4] != prefix.to_bytes(4) or block[prefix : prefix + 4] not in (
        b"II*\0",
        b"MM\0*",
    ):
        raise ValueError("the EXIF item's TIFF header is not where its offset says")
    if len(block) - prefix < len(_EMPTY_TIFF[order]):
        return payload  # too short to hold an IFD, let alone a GPS one
    cleaned = clean_exif(block)
    if cleaned is None:
        cleaned = block[:prefix] + _EMPTY_TIFF[order]  # Pillow's AVIF plugin needs it parseable
    if len(cleaned) > len(block):
        raise ValueError("no room for the EXIF that keeps the orientation")
    return payload[:4] + cleaned.ljust(len(block), b"\0")


def _blank_mime(item: isobmff.Item, payload: bytes) -> bytes:
    """XMP becomes an empty packet padded with spaces (as XMP's own in-place edits pad);
    any other mime content, which nothing here reads, becomes zeros."""
    if item.content_encoding:
        raise ValueError(f"item {item.id} is compressed ({item.content_encoding!r})")
    if item.content_type != b"application/rdf+xml":
        return bytes(len(payload))
    packet = _EMPTY_XMP if len(payload) >= len(_EMPTY_XMP) else b""
    return packet.ljust(len(payload), b" ")


def _blank_unread_boxes(heif: isobmff.Heif, out: bytearray) -> int:
    """Zero the payload of boxes that no decoder reads and no item's data lies in; return
    where the file may end: after its last box that holds anything."""
    data = _Spans(extent for item in heif.items.values() for extent in item.extents)
    unread = [box for box in heif.meta_children if box.kind not in isobmff.META_CHILDREN]
    unread += [box for box in heif.boxes if box.kind not in (b"ftyp", b"meta", b"mdat")]
    end = max(box.end for box in heif.boxes if box.kind in (b"ftyp", b"meta", b"mdat"))
    for box in unread:
        if data.touches(box.body, box.end):
            end = max(end, box.end)  # an item's data is in it: not ours to touch
        else:
            out[box.body : box.end] = bytes(box.end - box.body)
    return end


_STRIPPERS = {
    "JPEG": _strip_jpeg,
    "MPO": _strip_jpeg,
    "PNG": _strip_png,
    "GIF": _strip_gif,
    "WEBP": _strip_webp,
    "HEIF": _strip_heif,
    "AVIF": lambda data: _strip_heif(data, "AVIF"),
}
STRIP_FORMATS = frozenset(_STRIPPERS)
