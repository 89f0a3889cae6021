"""PNG and APNG: the chunks a viewer needs to show the picture right, nothing else.

Kept byte for byte: the critical chunks (IHDR, PLTE, IDAT, IEND), transparency (tRNS), colour
(gAMA, cHRM, sRGB, cICP, mDCV/cLLI and their draft spellings) and the animation (acTL, fcTL,
fdAT). ``iCCP`` keeps its profile under a fixed name (the name is free text). The EXIF Pillow
reads (the last ``eXIf`` before the image data) becomes an ``eXIf`` holding only the
orientation, where that one was. Everything else goes: text chunks (tEXt, zTXt, iTXt: XMP,
ImageMagick's raw profiles, comments), other eXIf chunks, the pre-standard ``exIf``, time
stamps, suggested palettes, unknown chunks, and anything after IEND.

An ancillary chunk whose CRC is wrong is dropped (libpng warns and skips it too); when that
is a piece of the animation, the whole animation goes and the still image stays: an APNG
with a frame missing can't be played right.
"""

from __future__ import annotations

import struct
import zlib

from ..containers import png_chunks
from . import exif
from .work import Work

_CRITICAL = {b"IHDR", b"PLTE", b"IDAT", b"IEND"}
_COLOUR = {b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"cICP", b"mDCV", b"cLLI", b"mDCv", b"cLLi"}
_ANIMATION = {b"acTL", b"fcTL", b"fdAT"}
ICC_NAME = b"ICC profile"


def strip(data: bytes, work: Work) -> bytes:
    chunks = list(png_chunks(data))
    work.step(len(chunks))
    sound = {index for index, chunk in enumerate(chunks) if _crc_ok(data, chunk, work)}
    animated = all(i in sound for i, chunk in enumerate(chunks) if chunk.kind in _ANIMATION)
    exif_at = _exif_chunk(chunks, sound)
    parts = [data[:8]]
    for index, chunk in enumerate(chunks):
        if index == exif_at:
            parts.append(_orientation_chunk(data, chunk, work))
        elif chunk.kind in _CRITICAL or (index in sound and _allowed(chunk.kind, animated)):
            parts.append(work.copy(data[chunk.start : chunk.end]))
        elif chunk.kind == b"iCCP" and index in sound:
            parts.append(_iccp(data, chunk, work))
    return b"".join(parts)


def _allowed(kind: bytes, animated: bool) -> bool:
    return kind in _COLOUR or (animated and kind in _ANIMATION)


def _crc_ok(data: bytes, chunk, work: Work) -> bool:
    if chunk.kind in _CRITICAL:
        return True  # copied as they are: the probe judges the picture's own chunks
    if not (chunk.kind in _COLOUR or chunk.kind in _ANIMATION or chunk.kind in (b"iCCP", b"eXIf")):
        return False  # dropped anyway: no need to read it
    work.step((chunk.end - chunk.start) // 4096)
    (crc,) = struct.unpack_from(">I", data, chunk.end - 4)
    return zlib.crc32(memoryview(data)[chunk.start + 4 : chunk.end - 4]) == crc


def _exif_chunk(chunks, sound: set[int]) -> int | None:
    """The eXIf Pillow reads: the last one before the first IDAT (later ones it never sees)."""
    found = None
    for index, chunk in enumerate(chunks):
        if chunk.kind == b"IDAT":
            break
        if chunk.kind == b"eXIf" and index in sound:
            found = index
    return found


def _orientation_chunk(data: bytes, chunk, work: Work) -> bytes:
    payload = memoryview(data)[chunk.body : chunk.end - 4]
    tiff = exif.minimal(work.copy(exif.EXIF_HEADER + payload), work)  # as Pillow reads it
    return b"" if tiff is None else chunk_bytes(b"eXIf", tiff)


def _iccp(data: bytes, chunk, work: Work) -> bytes:
    name_end = data.find(b"\x00", chunk.body, min(chunk.end - 4, chunk.body + 80))
    if name_end < 0:
        return b""  # no name within its 79 bytes: no reader finds the profile either
    if data[chunk.body : name_end] == ICC_NAME:
        return work.copy(data[chunk.start : chunk.end])
    return chunk_bytes(b"iCCP", ICC_NAME + work.copy(data[name_end : chunk.end - 4]))


def chunk_bytes(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)
