"""HEIF and AVIF files (ISOBMFF: ISO/IEC 14496-12, 23008-12): a strict, bounded parse of the
boxes and items. What the codecs' own headers say (HEVC, AV1) is read by ``bitstreams``.

Both keep their pictures as *items* described in one ``meta`` box: ``iinf`` names each item
and its type, ``iloc`` says where its bytes are, ``iprp`` gives its properties (``ispe``: the
size; ``clap``, ``irot``, ``imir``: the crop and transforms a viewer applies, in that order),
``iref`` relates items (a grid's tiles, a thumbnail's master, the EXIF block that describes an
image). The coded pictures
usually sit in ``mdat``, but an item's extents may point anywhere in the file.

The parse is strict where lenience would cost safety: a box whose size lies, a table whose
count can't fit in its box, an item in two places, a protected item, all raise
``Malformed``; image sequences (``moov`` tracks) with no still picture beside them raise
``Unsupported``. Every box, table
entry and extent spends from the caller's budget, so a file of tiny boxes is refused in
proportion to its size. Bytes after the last well-formed top-level box are junk, as after a
JPEG's end marker: decoders ignore them, and so does everything here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple, Protocol

from . import bitstreams
from .bitstreams import MAX_SIDE
from .errors import Malformed, Unsupported
from .formats import display_name

# Major brands as Pillow's AVIF plugin and pillow-heif accept them. "mif1"/"msf1" are the
# generic HEIF brands: the compatible brands, then the primary item's codec, decide.
AVIF_BRANDS = {b"avif", b"avis"}
HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
GENERIC_BRANDS = {b"mif1", b"msf1"}
CODECS = {b"hvc1": "HEIF", b"av01": "AVIF"}  # the coded-image item types we decode
METADATA_TYPES = {b"Exif", b"mime", b"uri "}
# Boxes a meta box may hold that we read or that decoders need; anything else is blanked.
META_CHILDREN = {b"hdlr", b"pitm", b"iloc", b"iinf", b"iref", b"iprp", b"idat", b"dinf", b"grpl"}
# Auxiliary images decoded with their master: alpha planes (HEVC and AV1 naming).
ALPHA_URNS = {b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha", b"urn:mpeg:hevc:2015:auxid:1"}
MAX_ITEMS = 1000  # libheif's own default limit: pillow-heif refuses files with more


class Budget(Protocol):
    def spend(self, blocks: int = 1) -> None: ...


class Box(NamedTuple):
    kind: bytes
    start: int
    body: int  # after the header (size, type, 64-bit size, uuid); a full box's version is here
    end: int


@dataclass
class Item:
    id: int
    type: bytes
    hidden: bool = False
    content_type: bytes = b""
    content_encoding: bytes = b""
    located: bool = False  # listed in iloc
    construction: int = 0  # 0: file offsets; 1: inside idat; 2: from other items
    extents: list[tuple[int, int]] = field(default_factory=list)  # (start, end) in the file
    properties: list[Box] = field(default_factory=list)
    first_of_kind: dict[bytes, Box] = field(default_factory=dict)  # property() in O(1)
    refs: dict[bytes, list[int]] = field(default_factory=dict)  # outgoing, by reference type

    def property(self, kind: bytes) -> Box | None:
        return self.first_of_kind.get(kind)

    def add_property(self, box: Box) -> None:
        self.properties.append(box)
        self.first_of_kind.setdefault(box.kind, box)


@dataclass
class Heif:
    """What the parse found: the top-level boxes, the meta box's children and the items."""

    boxes: list[Box]  # top level, in file order; bytes after the last one are junk
    meta_children: list[Box]
    items: dict[int, Item]
    primary: Item

    def referrers(self, kind: bytes) -> set[int]:
        """Ids of the items with at least one outgoing reference of this type."""
        return {item.id for item in self.items.values() if item.refs.get(kind)}

    def referenced(self, kind: bytes) -> set[int]:
        """Ids that some item references with this type."""
        return {to for item in self.items.values() for to in item.refs.get(kind, ())}


# --- Boxes ----------------------------------------------------------------------------------


def boxes(
    data: bytes, start: int, end: int, budget: Budget, *, lenient: bool = False
) -> Iterator[Box]:
    """The boxes from ``start`` to ``end``. Raises Malformed if one runs past ``end`` or is
    shorter than its header; with ``lenient``, stops there instead (junk after the file)."""
    pos = start
    while pos < end:
        budget.spend()
        box = _box_at(data, pos, end)
        if box is None:
            if lenient:
                return
            raise Malformed(f"a box at {pos} runs past its container or is cut short")
        yield box
        pos = box.end


def _box_at(data: bytes, pos: int, end: int) -> Box | None:
    if end - pos < 8:
        return None
    size, kind = int.from_bytes(data[pos : pos + 4]), data[pos + 4 : pos + 8]
    body = pos + 8
    if size == 1:  # a 64-bit size follows
        if end - pos < 16:
            return None
        size, body = int.from_bytes(data[pos + 8 : pos + 16]), pos + 16
    elif size == 0:  # to the end of the container
        size = end - pos
    if kind == b"uuid":
        body += 16
    if size < body - pos or pos + size > end:
        return None
    return Box(kind, pos, body, pos + size)


class Reader:
    """Big-endian fields from ``data[pos:end]``; reading past ``end`` raises Malformed."""

    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data, self.pos, self.end = data, pos, end

    @classmethod
    def full_box(cls, data: bytes, box: Box) -> tuple[Reader, int, int]:
        """A reader after a full box's version and flags; and those two."""
        reader = cls(data, box.body, box.end)
        version, flags = reader.uint(1), reader.uint(3)
        return reader, version, flags

    @property
    def left(self) -> int:
        return self.end - self.pos

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size))

    def take(self, size: int) -> bytes:
        if self.pos + size > self.end:
            raise Malformed("a field runs past the end of its box")
        self.pos += size
        return self.data[self.pos - size : self.pos]

    def fourcc(self) -> bytes:
        return self.take(4)

    def string(self) -> bytes:
        """A NUL-terminated string; one cut short by the end of the box ends there."""
        nul = self.data.find(b"\0", self.pos, self.end)
        stop = self.end if nul < 0 else nul
        value, self.pos = self.data[self.pos : stop], min(self.end, stop + 1)
        return value


# --- The file -------------------------------------------------------------------------------


def brand_format(data: bytes) -> str | None:
    """The format the file type box names, "HEIF" or "AVIF", as Pillow's plugins read it."""
    if data[4:8] != b"ftyp" or len(data) < 16:
        return None
    major = data[8:12]
    if major in AVIF_BRANDS:
        return "AVIF"
    if major in HEIC_BRANDS:
        return "HEIF"
    if major in GENERIC_BRANDS:
        size = int.from_bytes(data[:4])
        compatible = data[16 : min(size, len(data), 16 + 4 * 64)]
        brands = {compatible[i : i + 4] for i in range(0, len(compatible) - 3, 4)}
        return "AVIF" if brands & AVIF_BRANDS else "HEIF"
    return None


def parse(data: bytes, budget: Budget) -> Heif:
    """The file's structure; raises Malformed or Unsupported (see the module docstring)."""
    fmt = brand_format(data)
    if fmt is None:
        raise Malformed("no HEIF or AVIF file type box")
    top = list(boxes(data, 0, len(data), budget, lenient=True))
    kinds = [box.kind for box in top]
    if kinds[:1] == [b"ftyp"] and b"meta" not in kinds and b"moov" in kinds:
        raise Unsupported(
            f"Upload a still image: this {display_name(fmt)} file is an image sequence "
            "(an animation) without a still picture, which is not accepted."
        )
    if kinds[:1] != [b"ftyp"] or kinds.count(b"meta") != 1:
        raise Malformed("a file type box first, then exactly one meta box")
    # A sequence (moov: an animation, a burst) beside the meta box is left alone: the primary
    # item is the picture libheif and libavif show, as a GIF shows its first frame.
    meta = top[kinds.index(b"meta")]
    reader, version, _ = Reader.full_box(data, meta)
    if version != 0:
        raise Malformed("unknown meta box version")
    children = list(boxes(data, reader.pos, meta.end, budget))
    items = _items(data, children, top[-1].end, budget)
    primary = items.get(_primary_id(data, children))
    if primary is None:
        raise Malformed("no primary item")
    return Heif(top, children, items, primary)


def _only(children: list[Box], kind: bytes, *, required: bool = True) -> Box | None:
    found = [box for box in children if box.kind == kind]
    if len(found) > 1 or (required and not found):
        raise Malformed(f"{'more than one' if found else 'no'} {kind.decode()} box")
    return found[0] if found else None


def _primary_id(data: bytes, children: list[Box]) -> int:
    hdlr = Reader.full_box(data, _only(children, b"hdlr"))[0]
    hdlr.uint(4)  # pre_defined
    if hdlr.fourcc() != b"pict":
        raise Malformed("the meta box does not describe pictures")
    reader, version, _ = Reader.full_box(data, _only(children, b"pitm"))
    return reader.uint(2 if version == 0 else 4)


def _items(data: bytes, children: list[Box], limit: int, budget: Budget) -> dict[int, Item]:
    """The items, located within ``data[:limit]`` (the well-formed boxes)."""
    items = _item_infos(data, _only(children, b"iinf"), budget)
    idat = _only(children, b"idat", required=False)
    _locate(data, _only(children, b"iloc"), idat, limit, items, budget)
    iprp = _only(children, b"iprp", required=False)
    if iprp is not None:
        _associate(data, iprp, items, budget)
    iref = _only(children, b"iref", required=False)
    if iref is not None:
        _relate(data, iref, items, budget)
    return items


def _item_infos(data: bytes, iinf: Box, budget: Budget) -> dict[int, Item]:
    reader, version, _ = Reader.full_box(data, iinf)
    reader.uint(2 if version == 0 else 4)  # entry_count: the boxes themselves are what count
    items: dict[int, Item] = {}
    for infe in boxes(data, reader.pos, iinf.end, budget):
        if infe.kind != b"infe":
            continue
        item = _item_info(data, infe)
        if item.id in items:
            raise Malformed(f"item {item.id} is described twice")
        items[item.id] = item
        if len(items) > MAX_ITEMS:
            raise Unsupported(
                f"Upload a valid image: this file holds more than {MAX_ITEMS} pictures and "
                "metadata blocks, more than any camera writes."
            )
    return items


def _item_info(data: bytes, infe: Box) -> Item:
    reader, version, flags = Reader.full_box(data, infe)
    if version not in (2, 3):  # versions 0 and 1 carry no item type: no decoder reads them
        raise Malformed("an item info box of an old version")
    item = Item(reader.uint(2 if version == 2 else 4), b"")
    if reader.uint(2):
        raise Unsupported("Upload a valid image: this file's pictures are encrypted.")
    item.type, item.hidden = reader.fourcc(), bool(flags & 1)
    reader.string()  # item_name
    if item.type == b"mime":
        item.content_type = reader.string()
        item.content_encoding = reader.string() if reader.left else b""
    return item


def _locate(
    data: bytes, iloc: Box, idat: Box | None, limit: int, items: dict[int, Item], budget: Budget
) -> None:
    """Fill in each item's extents from the item location box."""
    reader, version, _ = Reader.full_box(data, iloc)
    if version > 2:
        raise Malformed("unknown iloc version")
    sizes = reader.uint(1)
    offset_size, length_size = sizes >> 4, sizes & 15
    sizes = reader.uint(1)
    base_size, index_size = sizes >> 4, (sizes & 15) if version else 0
    if any(size not in (0, 4, 8) for size in (offset_size, length_size, base_size, index_size)):
        raise Malformed("iloc field sizes other than 0, 4 or 8 bytes")
    id_size = 4 if version == 2 else 2
    count = reader.uint(id_size)
    per_item = id_size + (2 if version else 0) + 2 + base_size + 2
    if count * per_item > reader.left:
        raise Malformed("iloc declares more items than it holds")
    extent_size = index_size + offset_size + length_size
    for _ in range(count):
        budget.spend()
        item_id = reader.uint(id_size)
        construction = reader.uint(2) & 15 if version else 0
        external = reader.uint(2)  # data_reference_index: 0 is this file
        base = reader.uint(base_size)
        extents = reader.uint(2)
        if extents * extent_size > reader.left:
            raise Malformed("iloc declares more extents than it holds")
        budget.spend(extents)
        located = []
        for _ in range(extents):
            reader.uint(index_size)
            located.append((base + reader.uint(offset_size), reader.uint(length_size)))
        item = items.get(item_id)
        if item is None:
            continue  # bytes of an item nobody describes: no decoder reads them
        if item.located or external or construction > 2:
            raise Malformed(f"item {item_id} is located twice, elsewhere, or unknowably")
        item.located, item.construction = True, construction
        item.extents = _resolve(located, construction, idat, limit)


def _resolve(extents, construction: int, idat: Box | None, limit: int) -> list[tuple[int, int]]:
    """Extents as (start, end) in the file; a length of 0 means "to the end" of the file
    (or idat). Extents built from other items (construction 2) are left unresolved."""
    if construction == 2:
        return []
    if construction == 1 and idat is None:
        raise Malformed("an item in an idat box that is not there")
    start, end = (0, limit) if construction == 0 else (idat.body, idat.end)
    resolved = []
    for offset, length in extents:
        first = start + offset
        last = end if length == 0 else first + length
        if first > end or last > end:
            raise Malformed("an item's data lies beyond the last box: the file is truncated")
        resolved.append((first, last))
    return resolved


def _associate(data: bytes, iprp: Box, items: dict[int, Item], budget: Budget) -> None:
    """Attach each item's properties, from ipco (the properties) and ipma (who has which)."""
    children = list(boxes(data, iprp.body, iprp.end, budget))
    ipco = _only(children, b"ipco")
    properties = list(boxes(data, ipco.body, ipco.end, budget))
    for ipma in (box for box in children if box.kind == b"ipma"):
        reader, version, flags = Reader.full_box(data, ipma)
        count = reader.uint(4)
        id_size, index_size = (2 if version == 0 else 4), (2 if flags & 1 else 1)
        if count * (id_size + 1) > reader.left:
            raise Malformed("ipma declares more items than it holds")
        for _ in range(count):
            item = items.get(reader.uint(id_size))
            associations = reader.uint(1)
            budget.spend(1 + associations)
            for _ in range(associations):
                index = reader.uint(index_size) & ((1 << (8 * index_size - 1)) - 1)
                if index > len(properties):
                    raise Malformed("an item has a property that is not there")
                if index and item is not None:
                    item.add_property(properties[index - 1])


def _relate(data: bytes, iref: Box, items: dict[int, Item], budget: Budget) -> None:
    reader, version, _ = Reader.full_box(data, iref)
    id_size = 2 if version == 0 else 4
    for ref in boxes(data, reader.pos, iref.end, budget):
        refs = Reader(data, ref.body, ref.end)
        source, count = refs.uint(id_size), refs.uint(2)
        if count * id_size > refs.left:
            raise Malformed("a reference box declares more items than it holds")
        budget.spend(count)
        targets = struct.unpack_from(f">{count}{'H' if id_size == 2 else 'I'}", data, refs.pos)
        if source in items:
            items[source].refs.setdefault(ref.kind, []).extend(targets)


# --- What an item is ------------------------------------------------------------------------


def ispe(data: bytes, item: Item) -> tuple[int, int] | None:
    """The item's width and height as its ``ispe`` property declares them (before transforms)."""
    box = item.property(b"ispe")
    if box is None:
        return None
    reader = Reader.full_box(data, box)[0]
    size = reader.uint(4), reader.uint(4)
    if not all(0 < side <= MAX_SIDE for side in size):
        raise Malformed("an image size of 0 or beyond any codec")
    return size


def displayed_size(data: bytes, heif: Heif, item: Item) -> tuple[int, int] | None:
    """The item's size as a viewer shows it: the coded picture's ``ispe``, then each item's
    transforms in turn, from the coded picture through any identity items to ``item``:
    the crop (``clap``), then the rotation (``irot``); a mirror keeps the size. None if the
    coded picture has no ``ispe``. Raises BadAperture for a crop that is not a rectangle
    inside the picture."""
    chain = transform_chain(heif, item)
    size = ispe(data, chain[0])
    if size is None:
        return None
    for step in chain:
        aperture = clean_aperture(data, step, size)
        size = size if aperture is None else aperture[2:]
        irot = step.property(b"irot")
        if irot is not None and irot.end > irot.body and data[irot.body] & 1:
            size = size[1], size[0]
    return size


def transform_chain(heif: Heif, item: Item) -> list[Item]:
    """The items whose transforms a decoder applies to show ``item``, coded picture first:
    ``item`` alone, or the picture it derives from through identity items (``iden``), then
    those items in turn."""
    chain = [item]
    for _ in range(8):  # libheif follows a few levels; a loop or a deep chain is malformed
        if chain[-1].type != b"iden":
            return chain[::-1]
        sources = chain[-1].refs.get(b"dimg", [])
        if len(sources) != 1 or sources[0] not in heif.items:
            raise Malformed(f"identity item {chain[-1].id} does not derive from exactly one item")
        chain.append(heif.items[sources[0]])
    raise Malformed("a chain of identity items too deep, or a loop")


class BadAperture(Malformed):
    """A clean aperture (``clap``) that is not a rectangle inside the picture; ``str(exc)``
    says what is wrong with it, for the uploader."""


def clean_aperture(
    data: bytes, item: Item, size: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """The item's crop (``clap``) as (left, top, width, height) in pixels of a picture of
    ``size``; None if it has none. Raises BadAperture if the crop is malformed.

    ISO/IEC 14496-12 12.1.4 and ISO/IEC 23008-12 6.5.9: width, height and the offsets of the
    aperture's centre from the picture's centre are fractions, so the exact left edge is
    ``horizOff + (W - width) / 2`` (top likewise). MIAF asks for whole numbers, which every
    encoder writes; where they are not, the edges are rounded as libheif rounds them (left
    down, top to nearest, right and bottom to nearest), so both engines show what libheif
    shows. An aperture reaching outside the picture, empty, or with a zero denominator is
    malformed (libheif refuses it too, or in newer versions shows something else).
    """
    box = item.property(b"clap")
    if box is None:
        return None
    reader = Reader(data, box.body, box.end)
    try:
        fields = [reader.uint(4) for _ in range(8)]
    except Malformed as exc:
        raise BadAperture("is cut short") from exc
    fields[4:8:2] = [value - (value >> 31 << 32) for value in fields[4:8:2]]  # signed offsets
    if 0 in fields[1::2]:
        raise BadAperture("has a zero denominator")
    width, height, x, y = (Fraction(*fields[at : at + 2]) for at in range(0, 8, 2))
    edges = []
    for side, full, offset, round_first in (
        (width, size[0], x, _floor),
        (height, size[1], y, _round),
    ):
        first = offset + (full - side) / 2  # the exact left (top) edge
        if side < 1:
            raise BadAperture(f"is less than a pixel {'wide' if side is width else 'high'}")
        if first < 0 or first + side > full:
            raise BadAperture(
                f"of {float(width):g} x {float(height):g} pixels at offset "
                f"({float(x):g}, {float(y):g}) from the centre does not fit inside the "
                f"{size[0]} x {size[1]} picture"
            )
        start = round_first(first)
        edges.append((start, _round(side - 1 + start) + 1 - start))
    (left, crop_width), (top, crop_height) = edges
    if left + crop_width > size[0] or top + crop_height > size[1]:
        raise BadAperture(f"rounds to pixels outside the {size[0]} x {size[1]} picture")
    return left, top, crop_width, crop_height


def _floor(value: Fraction) -> int:
    return value.numerator // value.denominator


def _round(value: Fraction) -> int:
    return _floor(value + Fraction(1, 2))  # halves up, as libheif's Fraction::round


def auxiliary_type(data: bytes, item: Item) -> bytes:
    """The URN in the item's ``auxC`` property ("" if none)."""
    box = item.property(b"auxC")
    return Reader.full_box(data, box)[0].string() if box is not None else b""


def payload(data: bytes, item: Item, limit: int | None = None) -> bytes:
    """The item's bytes, its extents joined; the first ``limit`` of them if given."""
    parts, size = [], 0
    for start, end in item.extents:
        if limit is not None and size >= limit:
            break
        parts.append(data[start:end])
        size += end - start
    return b"".join(parts)[:limit]


def is_image(item: Item) -> bool:
    """Coded and derived pictures alike have a size; metadata items do not."""
    return item.type not in METADATA_TYPES and item.property(b"ispe") is not None


def top_level_images(heif: Heif) -> list[Item]:
    """The pictures a viewer lists, as libheif does: not hidden, not a thumbnail, an alpha
    or depth plane, a grid's tile or a gain map; the primary always."""
    parts = heif.referrers(b"thmb") | heif.referrers(b"auxl") | heif.referenced(b"dimg")
    return [
        item
        for item in heif.items.values()
        if item is heif.primary
        or (is_image(item) and not item.hidden and item.id not in parts and item.type != b"tmap")
    ]


def coded_source(heif: Heif, item: Item) -> Item:
    """The item an identity-derived item (``iden``: the same picture, with its own
    ``irot``/``imir``/``clap``) shows, through chains of them; any other item itself."""
    return transform_chain(heif, item)[0]


def codec(heif: Heif, item: Item) -> str:
    """ "HEIF" (HEVC) or "AVIF" (AV1): what decodes the item, through a grid's tiles or
    what an identity item derives from."""
    item = coded_source(heif, item)
    if item.type in CODECS:
        return CODECS[item.type]
    if item.type == b"grid":
        tiles = {heif.items[tile].type for tile in _tiles(heif, item)}
        if len(tiles) == 1 and tiles <= CODECS.keys():
            return CODECS[tiles.pop()]
    raise Unsupported(
        "Upload a valid image: this file's main picture is not coded as HEIC (HEVC) or AVIF (AV1)."
    )


def decoded_pixels(data: bytes, heif: Heif, item: Item) -> int:
    """What decoding the item allocates, in pixels: for each coded picture (a grid's tiles
    one by one), the larger of the size ``ispe`` declares and the size in the codec's own
    header, which is what the decoder trusts; and the canvas a grid is pasted onto."""
    item = coded_source(heif, item)
    if item.type == b"grid":
        tiles = _tiles(heif, item)  # references were budgeted as they were read
        sizes = {tile: _coded_pixels(data, heif.items[tile]) for tile in set(tiles)}
        width, height = _declared(data, item)
        return max(width * height, sum(sizes[tile] for tile in tiles))
    return _coded_pixels(data, item)


def check_coded_sizes(data: bytes, heif: Heif, item: Item) -> None:
    """Raise Malformed where a coded picture is smaller than its ``ispe``: libheif refuses
    such a file only after decoding it, and Pillow's AVIF plugin draws garbage from it."""
    item = coded_source(heif, item)
    # Each tile once: a grid may reference one tile thousands of times.
    tiles = dict.fromkeys(_tiles(heif, item)) if item.type == b"grid" else {item.id: None}
    for coded in (heif.items[tile] for tile in tiles):
        width, height = _declared(data, coded)
        actual = _coded_size(data, coded)
        if actual[0] < width or actual[1] < height:
            raise Malformed(f"item {coded.id} is coded smaller than its declared size")


def alpha_planes(data: bytes, heif: Heif, item: Item) -> list[Item]:
    """The auxiliary alpha images of ``item``: decoders decode them along with it."""
    return [
        aux
        for aux in heif.items.values()
        if item.id in aux.refs.get(b"auxl", ()) and auxiliary_type(data, aux) in ALPHA_URNS
    ]


def _tiles(heif: Heif, grid: Item) -> list[int]:
    tiles = grid.refs.get(b"dimg", [])
    if not tiles or any(heif.items.get(tile) is None for tile in tiles):
        raise Malformed("a grid without its tiles")
    return tiles


def _declared(data: bytes, item: Item) -> tuple[int, int]:
    size = ispe(data, item)
    if size is None and item.type in CODECS and auxiliary_type(data, item) in ALPHA_URNS:
        # Older encoders wrote alpha planes without one: libheif takes the codec's size.
        return _coded_size(data, item)
    if size is None:
        raise Malformed(f"item {item.id} has no size (ispe)")
    return size


def _coded_pixels(data: bytes, item: Item) -> int:
    width, height = _declared(data, item)
    coded = _coded_size(data, item)
    return max(width * height, coded[0] * coded[1])


def _coded_size(data: bytes, item: Item) -> tuple[int, int]:
    if item.type not in CODECS:
        raise Unsupported("Upload a valid image: this file's pictures are not HEVC or AV1.")
    return hevc_size(data, item) if item.type == b"hvc1" else av1_size(data, item)


# --- Sizes in the codecs' own headers (the bit parsing is in ``bitstreams``) ------------------


def hevc_size(data: bytes, item: Item) -> tuple[int, int]:
    """The coded size in the sequence parameter set of the item's ``hvcC`` (ISO/IEC 14496-15
    8.3.3): what libde265 allocates, before any cropping."""
    box = item.property(b"hvcC")
    if box is None:
        raise Malformed("an HEVC item without its decoder configuration")
    config = Reader(data, box.body, box.end)
    config.take(22)
    seen = 0
    for _ in range(config.uint(1)):
        nal_type = config.uint(1) & 0x3F
        for _ in range(config.uint(2)):
            nal, seen = config.take(config.uint(2)), seen + 1
            if nal_type == 33:  # SPS
                return bitstreams.hevc_sps_size(nal)
            if seen > 64:  # encoders write three or four: VPS, SPS, PPS, SEI
                raise Malformed("a decoder configuration of many parameter sets")
    raise Malformed("no sequence parameter set")


def av1_size(data: bytes, item: Item) -> tuple[int, int]:
    """The maximum frame size of the AV1 sequence header in ``av1C``'s configuration OBUs or
    else the item's own bitstream: no frame may be larger."""
    box = item.property(b"av1C")
    if box is None:
        raise Malformed("an AV1 item without its decoder configuration")
    # The sequence header comes first in both; 4096 bytes keep the work per tile constant.
    for obus in (data[box.body + 4 : min(box.end, box.body + 4100)], payload(data, item, 4096)):
        size = bitstreams.av1_max_frame_size(obus)
        if size is not None:
            return size
    raise Malformed("no AV1 sequence header")
