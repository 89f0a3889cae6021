"""EXIF, read for one tag and written from scratch: the orientation is all that is kept.

Reading mirrors Pillow's ``Image.Exif().load(...)`` followed by ``.get(0x0112)`` (what the
probe and the engines use to turn the renditions), so the stored original shows the way its
renditions were drawn: the first IFD0 entry Pillow registers wins; entries of unknown types,
of no data, or whose out-of-line values would take the running total past the block are
skipped as Pillow skips them; a value outside the block ends the table, as Pillow's
"Truncated File Read" does. Only IFD0 is read, in one pass over its entries (bounded by the
block's size), and no value is ever copied: the work is linear in the block.

Writing never edits the camera's block: a fresh TIFF header and an IFD0 of one entry (or
none) replace it, so every other tag, sub-IFD (Exif, GPS, Interop, SubIFDs), maker note, the
IFD1 thumbnail and whatever an offset could reach go with the old block.
"""

from __future__ import annotations

import re
import struct

from .work import Work

ORIENTATION = 0x0112
EXIF_HEADER = b"Exif\x00\x00"
# The TIFF signatures Pillow accepts for EXIF (BigTIFF aside: no camera writes it in EXIF).
_BYTE_ORDERS = {b"MM\x00\x2a": ">", b"II\x2a\x00": "<", b"MM\x2a\x00": ">", b"II\x00\x2a": "<"}
# Pillow's loaders: bytes per value, and the types that load as integers.
_UNIT_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_UNIT_SIZES |= {13: 4, 16: 8}
_INTEGERS = {3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 13: "I", 16: "Q"}
_PREFIXES = re.compile(rb"^(?:Exif\x00\x00){1,2}")


def orientation(exif: bytes, work: Work) -> int | None:
    """The orientation tag of an EXIF block (optionally behind one or two "Exif\\0\\0"), as
    Pillow reads it; None if absent or not an integer."""
    prefix = _PREFIXES.match(exif)
    start = prefix.end() if prefix else 0
    order = _BYTE_ORDERS.get(exif[start : start + 4])
    if order is None or len(exif) - start < 8:
        return None
    tiff = memoryview(exif)[start:]
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    if ifd + 2 > len(tiff):
        return None
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    count = min(count, (len(tiff) - ifd - 2) // 12)  # Pillow stops at the first short read
    return _find_orientation(tiff, order, ifd + 2, count, work)


def _find_orientation(tiff: memoryview, order: str, table: int, count: int, work: Work):
    total = 0  # out-of-line bytes Pillow has counted so far; it skips past the block's size
    work.step(count)
    entries = struct.iter_unpack(order + "HHI4s", tiff[table : table + 12 * count])
    for tag, kind, number, value in entries:
        unit = _UNIT_SIZES.get(kind)
        if unit is None:
            continue
        size = unit * number
        if size > 4:
            total += size
            if total > len(tiff):
                continue
            (offset,) = struct.unpack(order + "I", value)
            if offset + size > len(tiff):
                return None  # Pillow's read fails and ends the table, the tag unread
            if tag == ORIENTATION:
                value = bytes(tiff[offset : offset + unit])
        if tag == ORIENTATION and size:
            kind_format = _INTEGERS.get(kind)
            return struct.unpack_from(order + kind_format, value)[0] if kind_format else None
    return None


def minimal(exif: bytes, work: Work) -> bytes | None:
    """The TIFF block that replaces ``exif``: its orientation alone, in its byte order (so an
    orientation-only block as Pillow writes it comes back the same); None where there is
    nothing to keep."""
    prefix = _PREFIXES.match(exif)
    start = prefix.end() if prefix else 0
    order = "<" if exif[start : start + 2] == b"II" else ">"
    return orientation_tiff(orientation(exif, work), order)


def orientation_tiff(value: int | None, order: str = ">") -> bytes | None:
    """A TIFF block holding only ``value`` as its orientation; None for 1 or no valid value,
    which display the image as stored and need no EXIF at all."""
    if value not in range(2, 9):
        return None
    magic = b"II\x2a\x00" if order == "<" else b"MM\x00\x2a"
    entry = struct.pack(order + "HHIHH", ORIENTATION, 3, 1, value, 0)  # one SHORT, inline
    return magic + struct.pack(order + "IH", 8, 1) + entry + bytes(4)


EMPTY_TIFF = b"MM\x00\x2a" + struct.pack(">I", 8) + bytes(2 + 4)  # IFD0 with no entries
