"""Lossless metadata surgery on the original upload: location goes, every encoded pixel stays.

Location hides in more places than EXIF's GPS block: XMP packets (``exif:GPSLatitude``),
IPTC place names (JPEG APP13), ImageMagick's "Raw profile" PNG text chunks, and whole files
appended after the image (MPO frames, motion-photo videos with GPS of their own). So:

- the GPS IFD is removed from EXIF *in place*: its pointer leaves IFD0 (and IFD1), its bytes
  are zeroed and nothing else moves, so every other offset (maker notes, the thumbnail) stays
  valid and orientation is untouched;
- XMP, IPTC and the MPO index are dropped whole, as is anything after the image's end marker;
- everything else, the entropy-coded data first of all, is copied byte for byte.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable, Iterator

from PIL import Image

from .probe import APP1, Block, gif_blocks, gif_header_end, jpeg_segments, png_chunks, riff_chunks

GPS_IFD = 0x8825
ORIENTATION = 0x0112
_BYTE_ORDERS = {b"II": "<", b"MM": ">"}
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_EXIF_PREFIX = re.compile(rb"(?:Exif\x00[\x00\xff]){0,2}")  # Pillow accepts it doubled, too


def strip_location(data: bytes, format: str) -> bytes:
    """``data`` without location metadata; encoded pixels, orientation and the rest kept.

    Raises ValueError for a format it can't clean, so allowing a new format without
    teaching this function fails loudly instead of serving location.
    """
    strip = _STRIPPERS.get(format.upper())
    if strip is None:
        raise ValueError(f"strip_location() can't clean {format!r} files; teach it first.")
    return strip(data)


def clean_exif(exif: bytes) -> bytes | None:
    """EXIF (TIFF-structured, optionally behind "Exif\\0\\0") without GPS; None to drop it.

    Parsed: the GPS IFD is removed in place, same length. Unparseable: a minimal EXIF with
    just the orientation Pillow reads from it (renditions were rotated by that), else None.
    """
    prefix = _EXIF_PREFIX.match(exif).end()
    try:
        return exif[:prefix] + _without_gps(exif[prefix:])
    except (KeyError, ValueError, struct.error):
        return _orientation_only(exif[prefix:], exif[:prefix])


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
    """Zero an IFD's table and the values it points to, clipped to the block."""
    if offset + 2 > len(out):
        return  # out of the block: nobody can read it there
    (count,) = struct.unpack_from(order + "H", out, offset)
    table_end = min(offset + 2 + 12 * count + 4, len(out))
    for at in range(offset + 2, table_end - 11, 12):
        kind, number, value_at = struct.unpack_from(order + "HII", out, at + 2)
        size = _TYPE_SIZES.get(kind, 1) * number
        if size > 4:  # values of 4 bytes or fewer sit in the entry itself
            _zero(out, value_at, size)
    _zero(out, offset, table_end - offset)


def _zero(out: bytearray, start: int, size: int) -> None:
    end = min(start + size, len(out))
    if start < end:
        out[start:end] = bytes(end - start)


def _orientation_only(tiff: bytes, prefix: bytes) -> bytes | None:
    try:
        exif = Image.Exif()
        exif.load(tiff)
        orientation = exif.get(ORIENTATION)
    except Exception:  # as unreadable to Pillow as to us: nothing to keep
        return None
    if orientation not in range(2, 9):
        return None  # 1 or junk: the image displays as stored, no EXIF needed
    minimal = Image.Exif()
    minimal[ORIENTATION] = orientation
    return prefix + minimal.tobytes()[6:]  # tobytes() adds its own "Exif\0\0"


# --- Containers -----------------------------------------------------------------------------


def _rebuild(
    data: bytes,
    head: int,
    blocks: Iterator[Block],
    edit: Callable[[bytes, Block], bytes],
    last: bytes,
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
    payload = data[block.body : block.end]
    if block.kind == APP1 and payload.startswith(b"Exif\x00"):
        exif = clean_exif(payload)
        if exif is None:
            return b""
        head = data[block.start : block.body - 2]  # fill bytes, FF and marker
        return head + struct.pack(">H", len(exif) + 2) + exif
    if block.kind in (APP1, 0xED):  # XMP and other APP1 uses; Photoshop IRB carrying IPTC
        return b""
    if block.kind == 0xE2 and payload.startswith(b"MPF\x00"):
        return b""  # the MPO index points at the appended images, which go
    return data[block.start : block.end]


def _strip_png(data: bytes) -> bytes:
    return _rebuild(data, 8, png_chunks(data), _png_chunk, b"IEND")


def _png_chunk(data: bytes, block: Block) -> bytes:
    payload = data[block.body : block.end - 4]
    if block.kind == b"eXIf":
        exif = clean_exif(payload)
        if exif == payload:
            return data[block.start : block.end]
        return b"" if exif is None else _png_chunk_bytes(b"eXIf", exif)
    if block.kind in (b"tEXt", b"zTXt", b"iTXt") and _is_metadata_text(payload):
        return b""
    return data[block.start : block.end]


def _is_metadata_text(payload: bytes) -> bool:
    # XMP, and ImageMagick's hex dumps of EXIF, IPTC and XMP ("Raw profile type exif", ...).
    keyword = payload.partition(b"\x00")[0]
    return keyword == b"XML:com.adobe.xmp" or keyword.startswith(b"Raw profile type")


def _png_chunk_bytes(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _strip_webp(data: bytes) -> bytes:
    chunks = [_webp_chunk(data, block) for block in riff_chunks(data)]
    flags = _vp8x_flags(chunks)
    chunks = [flags if chunk.startswith(b"VP8X") else chunk for chunk in chunks]
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _webp_chunk(data: bytes, block: Block) -> bytes:
    if block.kind == b"XMP ":
        return b""
    if block.kind != b"EXIF":
        return data[block.start : block.end]
    exif = clean_exif(data[block.body : block.body + _riff_size(data, block)])
    if exif is None:
        return b""
    return b"EXIF" + struct.pack("<I", len(exif)) + exif + b"\0" * (len(exif) & 1)


def _riff_size(data: bytes, block: Block) -> int:
    return struct.unpack_from("<I", data, block.start + 4)[0]


def _vp8x_flags(chunks: list[bytes]) -> bytes:
    """The VP8X chunk with its EXIF (0x08) and XMP (0x04) flags matching what is left."""
    vp8x = next((chunk for chunk in chunks if chunk.startswith(b"VP8X")), b"")
    if len(vp8x) < 9:
        return vp8x
    kinds = {chunk[:4] for chunk in chunks}
    flags = vp8x[8] & ~0x0C | (0x08 if b"EXIF" in kinds else 0) | (0x04 if b"XMP " in kinds else 0)
    return vp8x[:8] + bytes([flags]) + vp8x[9:]


def _strip_gif(data: bytes) -> bytes:
    return _rebuild(data, gif_header_end(data), gif_blocks(data), _gif_block, b";")


def _gif_block(data: bytes, block: Block) -> bytes:
    # The XMP application extension: identifier "XMP Data", authentication code "XMP".
    if block.kind == b"!\xff" and data[block.body : block.body + 12] == b"\x0bXMP DataXMP":
        return b""
    return data[block.start : block.end]


_STRIPPERS = {"JPEG": _strip_jpeg, "MPO": _strip_jpeg, "PNG": _strip_png, "WEBP": _strip_webp}
_STRIPPERS["GIF"] = _strip_gif
STRIP_FORMATS = frozenset(_STRIPPERS)
