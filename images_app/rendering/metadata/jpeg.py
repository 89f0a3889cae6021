"""JPEG (and MPO): the segments a decoder needs, an orientation-only EXIF, nothing else.

Kept byte for byte: frame and scan headers with their entropy-coded data, tables (DQT, DHT,
DAC, DRI, DNL), hierarchical markers, the ICC profile (APP2 ``ICC_PROFILE``) and end of
image. Rebuilt from their fixed fields: JFIF's APP0 without its thumbnail, Adobe's APP14
(the colour transform CMYK and YCCK decoding need) without trailing bytes. The EXIF that
Pillow reads (every ``Exif\\0\\0`` APP1 before the first scan, joined, as Pillow joins them)
becomes one APP1 holding only the orientation, where the first one was. Everything else
goes: XMP and other APP1s, APP3 "Exif" blocks, IPTC and Photoshop resources (APP13), the MPO
index, comments, unknown APPn, stray bytes between segments, and anything after the end of
image (MPO frames, motion-photo videos).
"""

from __future__ import annotations

import struct

from ..containers import SOS, jpeg_segments
from . import exif
from .work import Work

APP0, APP1, APP2, APP14 = 0xE0, 0xE1, 0xE2, 0xEE
# Frame headers (SOF0-15 less DHT, JPG, DAC), tables, scans, hierarchical markers, EOI.
_CODEC = (set(range(0xC0, 0xD0)) - {0xC8}) | {0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF}
_STANDALONE = {0x01, 0xD8, 0xD9, *range(0xD0, 0xD8)}  # no length field after the marker


def strip(data: bytes, work: Work) -> bytes:
    segments = list(jpeg_segments(data))
    work.step(len(segments))
    exif_at, new_exif = _exif(data, segments, work)
    view = memoryview(data)  # the kept segments are copied once, by the join
    parts: list[bytes | memoryview] = [b"\xff\xd8"]
    for index, block in enumerate(segments):
        if index == exif_at and new_exif is not None:
            parts.append(_segment(APP1, exif.EXIF_HEADER + new_exif))
        elif block.kind in _CODEC:
            parts.append(work.copy(view[_marker_at(block) : block.end]))
        else:
            parts.append(_kept_app(data, block, work))
    return b"".join(parts)


def _exif(data: bytes, segments, work: Work) -> tuple[int | None, bytes | None]:
    """Where the first EXIF APP1 before the scan is, and what replaces it."""
    found, joined = None, []
    for index, block in enumerate(segments):
        if block.kind == SOS:
            break
        if block.kind == APP1 and data.startswith(exif.EXIF_HEADER, block.body):
            payload = data[block.body : block.end]
            joined.append(payload if found is None else payload[6:])  # as Pillow joins them
            found = index if found is None else found
    if found is None:
        return None, None
    return found, exif.minimal(work.copy(b"".join(joined)), work)


def _kept_app(data: bytes, block, work: Work) -> bytes:
    body = data[block.body : block.end]
    if block.kind == APP2 and body.startswith(b"ICC_PROFILE\x00"):
        return _segment(APP2, work.copy(body))
    if block.kind == APP0 and body.startswith(b"JFIF\x00") and len(body) >= 14:
        return _segment(APP0, body[:12] + b"\x00\x00")  # no thumbnail: 0 x 0
    if block.kind == APP14 and body.startswith(b"Adobe") and len(body) >= 12:
        return _segment(APP14, body[:12])  # version, flags, transform; libjpeg reads no more
    return b""


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def _marker_at(block) -> int:
    """Where the segment's FF is: fill bytes and junk before it are not kept."""
    return block.body - (2 if block.kind in _STANDALONE else 4)
