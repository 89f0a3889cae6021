"""HEIC and AVIF files made in code: real ones from pillow-heif and Pillow, and a builder that
lays out items as we choose, so hostile structures (lying sizes, shared extents, bombs) are
one argument away from a valid file.

    parts = items_of(heic())           # the items of a real file, coded data included
    data = build(parts, primary=1)      # laid out again: decodes the same
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field, replace

from PIL import Image, features

from images_app.rendering import bitstreams, isobmff
from images_app.rendering.containers import Budget

try:
    import pillow_heif
except ImportError:
    pillow_heif = None
# Encoders to make test files with: x265 in pillow-heif's libheif, libavif in Pillow.
HEIC_OK = pillow_heif is not None and bool(pillow_heif.libheif_info()["HEIF"])
AVIF_OK = features.check("avif")

# Properties a decoder must understand to show the item right, as writers flag them.
ESSENTIAL = {b"hvcC", b"av1C", b"irot", b"imir", b"clap", b"a1op", b"lsel"}
LATITUDE = (52.0, 31.0, 12.5)
LATITUDE_BYTES = struct.pack(">6I", 52, 1, 31, 1, 25, 2)  # as Pillow writes it ("MM")
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
    b'exif:GPSLatitude="52,31.2N"/></rdf:RDF></x:xmpmeta>'
)


def camera_exif(orientation: int = 6) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Apple"
    exif[0x8825] = {1: "N", 2: LATITUDE, 3: "E", 4: (13.0, 24.0, 36.75)}
    return exif.tobytes()


def picture(size=(64, 48), mode: str = "RGB") -> Image.Image:
    """Four flat quadrants (red, green, blue, white): any rotation or mirror shows."""
    image = Image.new("RGB", size, (255, 255, 255))
    width, height = size
    image.paste((255, 0, 0), (0, 0, width // 2, height // 2))
    image.paste((0, 255, 0), (width // 2, 0, width, height // 2))
    image.paste((0, 0, 255), (0, height // 2, width // 2, height))
    return image.convert(mode)


def encode(fmt: str, size=(64, 48), *, mode: str = "RGB", image=None, **params) -> bytes:
    buffer = io.BytesIO()
    (image or picture(size, mode)).save(buffer, fmt, quality=60, **params)
    return buffer.getvalue()


def heic(size=(64, 48), **params) -> bytes:
    return encode("HEIF", size, **params)


def avif(size=(64, 48), **params) -> bytes:
    return encode("AVIF", size, **params)


def phone_heic(size=(64, 48), **params) -> bytes:
    """As an iPhone writes it: a grid of tiles, a thumbnail, EXIF with GPS, XMP."""
    return heic(size, tile_size=32, thumbnails=[16], exif=camera_exif(), xmp=XMP, **params)


# --- The builder ------------------------------------------------------------------------------


@dataclass
class Part:
    """One item: its type, its bytes, its properties (whole boxes), its references."""

    id: int
    type: bytes
    data: bytes = b""
    properties: list[bytes] = field(default_factory=list)
    hidden: bool = False
    content_type: bytes = b""
    refs: dict[bytes, list[int]] = field(default_factory=dict)
    in_idat: bool = False


def box(kind: bytes, payload: bytes = b"", *, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, payload: bytes = b"", version: int = 0, flags: int = 0) -> bytes:
    return box(kind, bytes([version]) + flags.to_bytes(3) + payload)


def ispe(width: int, height: int) -> bytes:
    return full_box(b"ispe", struct.pack(">II", width, height))


def items_of(data: bytes) -> list[Part]:
    """The items of a real file, with their data and property boxes, ready to rebuild."""
    heif = isobmff.parse(data, Budget(data))
    return [
        Part(
            item.id,
            item.type,
            isobmff.payload(data, item),
            [data[prop.start : prop.end] for prop in item.properties],
            item.hidden,
            item.content_type,
            {kind: list(ids) for kind, ids in item.refs.items()},
            item.construction == 1,
        )
        for item in heif.items.values()
    ]


def primary_of(data: bytes) -> int:
    return isobmff.parse(data, Budget(data)).primary.id


def build(
    parts: list[Part],
    primary: int | None = None,
    *,
    brand: bytes | None = None,
    compatible: tuple[bytes, ...] | None = None,
    meta_extra: bytes = b"",
    iloc: bytes | None = None,
    top_extra: bytes = b"",
    large_mdat: bool = False,
    after: bytes = b"",
) -> bytes:
    """A HEIF file of ``parts``: ftyp, meta (hdlr, pitm, iinf, iprp, iref, iloc, idat),
    ``top_extra``, mdat, ``after``. The brand follows the primary's codec unless given;
    ``iloc`` replaces the item locations (then the items' data is in mdat, unlocated)."""
    primary = parts[0].id if primary is None else primary
    codec = _codec(parts, primary)
    brand = brand or (b"avif" if codec == b"av01" else b"heic")
    compatible = compatible or (b"mif1", b"miaf", b"avif" if codec == b"av01" else b"heic")
    ftyp = box(b"ftyp", brand + bytes(4) + b"".join(compatible))
    idat_data = b"".join(part.data for part in parts if part.in_idat)
    mdat_data = b"".join(part.data for part in parts if not part.in_idat)

    def meta(mdat_at: int) -> bytes:
        children = [
            full_box(b"hdlr", bytes(4) + b"pict" + bytes(12) + b"\0"),
            full_box(b"pitm", struct.pack(">H", primary)),
            _iinf(parts),
            _iprp(parts),
            _iref(parts),
            _iloc(parts, mdat_at) if iloc is None else iloc,
            box(b"idat", idat_data) if idat_data else b"",
            meta_extra,
        ]
        return full_box(b"meta", b"".join(children))

    header = 16 if large_mdat else 8
    probe = meta(0)  # iloc has fixed-width fields: the size doesn't depend on the offsets
    mdat_at = len(ftyp) + len(probe) + len(top_extra) + header
    head = ftyp + meta(mdat_at) + top_extra
    return head + box(b"mdat", mdat_data, large=large_mdat) + after


def _codec(parts: list[Part], primary: int) -> bytes:
    by_id = {part.id: part for part in parts}
    item = by_id.get(primary)
    if item is not None and item.type == b"grid" and item.refs.get(b"dimg"):
        item = by_id.get(item.refs[b"dimg"][0])
    return item.type if item is not None else b"hvc1"


def _iinf(parts: list[Part]) -> bytes:
    entries = b""
    for part in parts:
        payload = struct.pack(">HH", part.id, 0) + part.type + b"\0"
        if part.type == b"mime":
            payload += part.content_type + b"\0"
        entries += full_box(b"infe", payload, version=2, flags=int(part.hidden))
    return full_box(b"iinf", struct.pack(">H", len(parts)) + entries)


def _iprp(parts: list[Part]) -> bytes:
    properties: list[bytes] = []
    for part in parts:
        for prop in part.properties:
            if prop not in properties:
                properties.append(prop)
    entries = [
        struct.pack(">HB", part.id, len(part.properties))
        + bytes(
            properties.index(prop) + 1 | (0x80 * (prop[4:8] in ESSENTIAL))
            for prop in part.properties
        )
        for part in parts
        if part.properties
    ]
    ipma = full_box(b"ipma", struct.pack(">I", len(entries)) + b"".join(entries))
    return box(b"iprp", box(b"ipco", b"".join(properties)) + ipma)


def _iref(parts: list[Part]) -> bytes:
    refs = b"".join(
        box(kind, struct.pack(f">HH{len(targets)}H", part.id, len(targets), *targets))
        for part in parts
        for kind, targets in part.refs.items()
    )
    return full_box(b"iref", refs) if refs else b""


def _iloc(parts: list[Part], mdat_at: int) -> bytes:
    entries, in_mdat, in_idat = b"", 0, 0
    for part in parts:
        method = 1 if part.in_idat else 0
        offset = in_idat if part.in_idat else mdat_at + in_mdat
        entries += struct.pack(">HHHHII", part.id, method, 0, 1, offset, len(part.data))
        if part.in_idat:
            in_idat += len(part.data)
        else:
            in_mdat += len(part.data)
    # Version 1: offset and length 4 bytes, no base offset, no index.
    return full_box(b"iloc", bytes([0x44, 0x00]) + struct.pack(">H", len(parts)) + entries, 1)


def edit(parts: list[Part], item_id: int, **changes) -> list[Part]:
    return [replace(part, **changes) if part.id == item_id else part for part in parts]


# --- Codec headers that lie -------------------------------------------------------------------


def with_hevc_size(hvcc: bytes, width: int, height: int) -> bytes:
    """``hvcC`` whose sequence parameter set declares ``width`` x ``height``. The SPS after
    the size is garbled: a file with it must be refused before any decoder reads it."""
    body, pos = hvcc[8:], 22
    arrays, pos = body[pos], pos + 1
    for _ in range(arrays):
        nal_type, count, pos = body[pos] & 0x3F, int.from_bytes(body[pos + 1 : pos + 3]), pos + 3
        for _ in range(count):
            length, pos = int.from_bytes(body[pos : pos + 2]), pos + 2
            if nal_type == 33:
                nal = body[pos : pos + length]
                sps = _sps_with_size(nal[2:].replace(b"\0\0\3", b"\0\0"), width, height)
                new = nal[:2] + sps[: length - 2].ljust(length - 2, b"\0")
                return box(b"hvcC", body[:pos] + new + body[pos + length :])
            pos += length
    raise ValueError("no SPS in hvcC")


def _sps_with_size(rbsp: bytes, width: int, height: int) -> bytes:
    bits = bitstreams.Bits(rbsp)
    bits.read(4)
    sub_layers = bits.read(3)
    bits.read(1 + 96)
    present = [(bits.read(1), bits.read(1)) for _ in range(sub_layers)]
    if sub_layers:
        bits.read(2 * (8 - sub_layers))
    for profile, level in present:
        bits.read(88 * profile + 8 * level)
    bits.golomb()
    if bits.golomb() == 3:
        bits.read(1)
    used = 8 * len(rbsp) - bits.left
    prefix = format(int.from_bytes(rbsp), f"0{8 * len(rbsp)}b")[:used]
    text = prefix + _golomb(width) + _golomb(height)
    text += "0" * (-len(text) % 8)
    return int(text, 2).to_bytes(len(text) // 8)


def _golomb(value: int) -> str:
    code = format(value + 1, "b")
    return "0" * (len(code) - 1) + code


def av1c_with_size(av1c: bytes, width: int, height: int) -> bytes:
    """``av1C`` carrying a (reduced, still picture) sequence header of ``width`` x ``height``."""
    text = "000" + "1" + "1" + "11111" + "1111" + "1111"  # profile 0, still, reduced, level 31
    text += format(width - 1, "016b") + format(height - 1, "016b")
    text += "0" * (-len(text) % 8)
    header = int(text, 2).to_bytes(len(text) // 8)
    obu = bytes([1 << 3 | 1 << 1, len(header)]) + header  # OBU_SEQUENCE_HEADER with a size
    return box(b"av1C", av1c[8:12] + obu)
