"""WebP: the chunks a viewer needs to show the picture right, nothing else.

Kept byte for byte: the bitstreams (VP8, VP8L, ALPH), the extended header (VP8X, its flags
set for what is kept and its reserved bits cleared), the ICC profile (ICCP) and the
animation (ANIM, and ANMF frames, each holding only its own ALPH/VP8/VP8L). The EXIF Pillow
reads (the first EXIF chunk of an extended file, as libwebp's demuxer finds it) becomes an
EXIF chunk holding only the orientation. Everything else goes: XMP, other EXIF chunks,
unknown chunks at the top level or inside frames, and anything past the RIFF size.
"""

from __future__ import annotations

import struct

from ..containers import riff_chunks
from . import exif
from .work import Work

_KEPT = {b"VP8X", b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ICCP"}
_FRAME_DATA = {b"ALPH", b"VP8 ", b"VP8L"}
ICC, EXIF, XMP = 0x20, 0x08, 0x04
_VP8X_FLAGS = 0x20 | 0x10 | 0x02  # ICC, alpha, animation: the ones we keep as they are


def strip(data: bytes, work: Work) -> bytes:
    blocks = list(riff_chunks(data))
    work.step(len(blocks))
    extended = any(block.kind == b"VP8X" for block in blocks)
    exif_at = next((i for i, block in enumerate(blocks) if block.kind == b"EXIF"), None)
    new_exif = None
    if extended and exif_at is not None:  # libwebp's demuxer reads EXIF in extended files only
        new_exif = _orientation(data, blocks[exif_at], work)
    chunks = []
    for index, block in enumerate(blocks):
        if index == exif_at and new_exif is not None:
            chunks.append(_chunk(b"EXIF", new_exif))
        elif block.kind == b"ANMF":
            chunks.append(_frame(data, block, work))
        elif block.kind in _KEPT:
            chunks.append(_chunk(block.kind, work.copy(_payload(data, block))))
    chunks = [_vp8x(chunk, new_exif is not None) for chunk in chunks]
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _payload(data: bytes, block) -> bytes:
    (size,) = struct.unpack_from("<I", data, block.start + 4)
    return data[block.body : min(block.body + size, block.end)]


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)


def _orientation(data: bytes, block, work: Work) -> bytes | None:
    payload = work.copy(_payload(data, block))
    if payload.startswith(exif.EXIF_HEADER):
        payload = payload[6:]  # Pillow's WebP plugin drops one, Exif.load() up to two more
    tiff = exif.minimal(payload, work)
    return None if tiff is None else exif.EXIF_HEADER + tiff


def _frame(data: bytes, block, work: Work) -> bytes:
    """An ANMF chunk with its 16-byte frame header and only the frame's bitstream chunks."""
    payload = _payload(data, block)
    parts, pos = [work.copy(payload[:16])], 16
    while pos + 8 <= len(payload):
        work.step()
        kind, size = struct.unpack_from("<4sI", payload, pos)
        end = min(pos + 8 + size, len(payload))
        if kind in _FRAME_DATA:
            parts.append(_chunk(kind, work.copy(payload[pos + 8 : end])))
        pos = end + (size & 1)
    return _chunk(b"ANMF", b"".join(parts))


def _vp8x(chunk: bytes, has_exif: bool) -> bytes:
    """VP8X with the EXIF flag saying whether EXIF is kept, XMP and reserved bits cleared."""
    if not chunk.startswith(b"VP8X") or len(chunk) < 18:
        return chunk
    flags = (chunk[8] & _VP8X_FLAGS) | (EXIF if has_exif else 0)
    return chunk[:8] + bytes([flags, 0, 0, 0]) + chunk[12:]
