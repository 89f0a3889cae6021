"""HEIC and AVIF: rewritten strictly in place, because item locations are absolute offsets.

No byte moves, so every offset stays right; what is not allowed is zeroed:

- the data of the items a viewer shows (the visible pictures, with their grid tiles, derived
  sources, alpha, depth and thumbnails) is kept byte for byte, and so are the boxes that
  describe them (ftyp, the meta box's structure, known item properties: ``colr`` keeps the
  colour profile, ``irot``/``imir`` the orientation);
- every other byte of ``mdat`` and ``idat`` is zeroed: XMP and other ``mime`` items, hidden or
  unreferenced items, bytes no item claims, a motion photo's video;
- each Exif item becomes an orientation-only EXIF block, zero-padded to its old length, where
  it lies in zeroed space (an Exif item sharing bytes with a picture gets no new block);
- item names, the handler name and unknown item properties (``udes`` descriptions, vendor
  boxes) are zeroed, unknown properties renamed ``free``; every top-level box but ``ftyp``,
  ``meta`` and ``mdat`` (``uuid`` XMP, ``free`` text, ``moov`` with its location) and every
  unknown child of ``meta`` becomes a zeroed ``free`` box, including bytes a hidden item's
  extent points into. Trailing boxes that hold nothing kept, and junk after the last box,
  are cut off.

The walk is ``isobmff.parse`` (bounded by the same budget as the probe); zeroing touches each
byte at most once per region, so the work is linear in the file's size.
"""

from __future__ import annotations

import bisect
import struct

from .. import isobmff
from ..containers import Budget
from ..errors import InvalidImage
from ..formats import display_name
from . import exif
from .work import Work

_SHOWN_TYPES = {*isobmff.CODECS, b"grid", b"iden", b"iovl", b"tmap"}
_ESSENTIAL_TOP = {b"ftyp", b"meta", b"mdat"}
_EXIF_READ = 64 * 1024
# Item properties a decoder or viewer reads; everything else in ipco is blanked.
_PROPERTIES = {
    *(b"ispe", b"pixi", b"colr", b"hvcC", b"av1C", b"irot", b"imir", b"clap", b"auxC"),
    *(b"pasp", b"rloc", b"lsel", b"a1op", b"a1lx", b"clli", b"mdcv", b"cclv", b"amve"),
    *(b"lhvC", b"oinf", b"tols", b"iscl", b"ccst", b"altt", b"jpgC", b"uncC", b"cmpd"),
}


def strip(data: bytes, fmt: str, work: Work) -> bytes:
    try:
        heif = isobmff.parse(data, Budget(data))
    except (ValueError, struct.error) as exc:  # the probe parsed it already: only if misused
        raise InvalidImage(
            f"This {display_name(fmt)} file's metadata could not be read safely; export it as JPEG."
        ) from exc
    work.step(len(heif.boxes) + len(heif.meta_children) + len(heif.items))
    shown = shown_items(heif)
    kept = _Spans((s, e) for item in shown for s, e in item.extents)
    out = bytearray(data)
    for box in _unread_boxes(heif):
        _rename_free(data, box, out, kept, work)
    for start, end in _data_regions(heif):
        _zero_outside(out, start, end, kept, work)
    _blank_descriptions(data, heif, out, kept, work)
    zeroed = _Spans([*_data_regions(heif), *((b.body, b.end) for b in _unread_boxes(heif))])
    readable = len(data)  # EXIF read across all Exif items: never more than the file
    for item in heif.items.values():
        if item.type == b"Exif" and _writable(item, kept, zeroed):
            readable -= _write_exif(data, item, out, min(readable, _EXIF_READ), work)
    _still_brands(heif, out)
    return bytes(out[: _file_end(heif, kept)])


# A sequence's brands, and the still-image brand of the same codec: with its track dropped
# above, a file still branded as a sequence is one libavif (browsers, Pillow) refuses.
_STILL_BRANDS = {b"avis": b"avif", b"msf1": b"mif1", b"hevs": b"heic", b"heis": b"heic"}


def _still_brands(heif: isobmff.Heif, out: bytearray) -> None:
    """Rename sequence brands in ``ftyp`` in place, where a ``moov`` box was dropped."""
    if not any(box.kind == b"moov" for box in heif.boxes):
        return
    ftyp = heif.boxes[0]
    for at in range(ftyp.body, ftyp.end - 3, 4):
        brand = bytes(out[at : at + 4])
        out[at : at + 4] = _STILL_BRANDS.get(brand, brand)


def shown_items(heif: isobmff.Heif) -> list[isobmff.Item]:
    """The pictures a viewer shows and everything decoding them reads: grid tiles and other
    derived sources, alpha and depth planes, thumbnails; picture types only."""
    backwards: dict[int, list[isobmff.Item]] = {}
    for item in heif.items.values():
        for kind in (b"auxl", b"thmb"):
            for target in item.refs.get(kind, ()):
                backwards.setdefault(target, []).append(item)
    todo = [item for item in isobmff.top_level_images(heif) if item.type in _SHOWN_TYPES]
    seen = {item.id for item in todo}
    while todo:
        item = todo.pop()
        sources = [heif.items.get(i) for i in item.refs.get(b"dimg", ())]
        for other in [*sources, *backwards.get(item.id, ())]:
            if other is not None and other.id not in seen and other.type in _SHOWN_TYPES:
                seen.add(other.id)
                todo.append(other)
    return [item for item in heif.items.values() if item.id in seen]


def _unread_boxes(heif: isobmff.Heif):
    yield from (box for box in heif.boxes if box.kind not in _ESSENTIAL_TOP)
    yield from (box for box in heif.meta_children if box.kind not in isobmff.META_CHILDREN)


def _data_regions(heif: isobmff.Heif):
    yield from ((box.body, box.end) for box in heif.boxes if box.kind == b"mdat")
    yield from ((box.body, box.end) for box in heif.meta_children if box.kind == b"idat")


def _writable(item: isobmff.Item, kept: _Spans, zeroed: _Spans) -> bool:
    """Whether the item lies wholly in zeroed space, apart from every kept picture."""
    extents = [extent for extent in item.extents if extent[1] > extent[0]]
    return bool(extents) and all(
        zeroed.holds(*extent) and not kept.touches(*extent) for extent in extents
    )


def _rename_free(data: bytes, box: isobmff.Box, out: bytearray, kept, work: Work) -> None:
    """The box becomes ``free`` (its size fields kept), its payload zeros but for kept data."""
    header = box.start + (16 if int.from_bytes(data[box.start : box.start + 4]) == 1 else 8)
    if not kept.touches(box.start, header):  # a picture's extent would start in it: leave it
        out[box.start + 4 : box.start + 8] = b"free"
    _zero_outside(out, header, box.end, kept, work)


def _zero_outside(out: bytearray, start: int, end: int, kept, work: Work) -> None:
    """Zero ``out[start:end]`` except where a kept span lies."""
    for gap_start, gap_end in kept.gaps(start, end):
        work.copied += gap_end - gap_start
        out[gap_start:gap_end] = bytes(gap_end - gap_start)


def _blank_descriptions(
    data: bytes, heif: isobmff.Heif, out: bytearray, kept: _Spans, work: Work
) -> None:
    """Zero the free text the structure carries: item names (and mime types), the handler's
    name; unknown item properties become zeroed ``free`` boxes."""
    for child in heif.meta_children:
        if child.kind == b"hdlr":
            _zero_outside(out, child.body + 24, child.end, kept, work)
        elif child.kind == b"iinf":
            _blank_item_names(data, child, out, kept, work)
        elif child.kind == b"iprp":
            for box in isobmff.boxes(data, child.body, child.end, work):
                if box.kind == b"ipco":
                    _blank_properties(data, box, out, kept, work)


def _blank_item_names(
    data: bytes, iinf: isobmff.Box, out: bytearray, kept: _Spans, work: Work
) -> None:
    version = data[iinf.body]
    start = iinf.body + 4 + (2 if version == 0 else 4)
    for infe in isobmff.boxes(data, start, iinf.end, work):
        if infe.kind == b"infe" and data[infe.body] in (2, 3):
            # version, flags, item id (2 or 4 bytes), protection index, item type; then text
            names = infe.body + 4 + (2 if data[infe.body] == 2 else 4) + 2 + 4
            _zero_outside(out, names, infe.end, kept, work)


def _blank_properties(
    data: bytes, ipco: isobmff.Box, out: bytearray, kept: _Spans, work: Work
) -> None:
    for prop in isobmff.boxes(data, ipco.body, ipco.end, work):
        if prop.kind not in _PROPERTIES:
            _rename_free(data, prop, out, kept, work)


def _write_exif(data: bytes, item: isobmff.Item, out: bytearray, limit: int, work: Work) -> int:
    """The item's first bytes (the rest is zeroed already) become an orientation-only EXIF
    block: a 4-byte offset to the TIFF header, "Exif\\0\\0", the header; an empty IFD0 where
    there is no orientation, because Pillow's AVIF plugin wants EXIF it can parse. The
    orientation is read from the first ``limit`` bytes; returns how many were read. With
    nothing left to read (a file of many Exif items) the item stays zeroed."""
    if limit <= 0:
        return 0
    payload = work.copy(_head(data, item, limit))
    offset = int.from_bytes(payload[:4]) if len(payload) >= 4 else len(payload)
    tiff = exif.minimal(payload[4 + offset :], work) if offset < len(payload) else None
    tiff = tiff or exif.EMPTY_TIFF
    block = struct.pack(">I", 6) + exif.EXIF_HEADER + tiff
    if len(block) > sum(end - start for start, end in item.extents):
        return len(payload)  # no room even for that: left zeroed
    for start, end in item.extents:
        piece, block = block[: end - start], block[end - start :]
        out[start : start + len(piece)] = piece
        if not block:
            break
    return len(payload)


def _head(data: bytes, item: isobmff.Item, limit: int) -> bytes:
    """The first ``limit`` bytes of the item, its extents joined."""
    parts = []
    for start, end in item.extents:
        if limit <= 0:
            break
        parts.append(data[start : min(end, start + limit)])
        limit -= len(parts[-1])
    return b"".join(parts)


def _file_end(heif: isobmff.Heif, kept) -> int:
    """After the last box that holds anything kept; junk and empty trailing boxes go."""
    end = max(box.end for box in heif.boxes if box.kind in _ESSENTIAL_TOP)
    for box in heif.boxes:
        if box.end > end and kept.touches(box.start, box.end):
            end = box.end
    return end


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

    def gaps(self, start: int, end: int):
        """The parts of ``[start, end)`` that no span covers."""
        at = bisect.bisect_right(self.ends, start)
        while start < end:
            if at >= len(self.starts) or self.starts[at] >= end:
                yield start, end
                return
            if self.starts[at] > start:
                yield start, self.starts[at]
            start, at = max(start, self.ends[at]), at + 1
