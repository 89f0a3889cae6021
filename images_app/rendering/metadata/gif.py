"""GIF: the picture and its animation, nothing else.

Kept byte for byte: the header and global colour table, each image (descriptor, local colour
table, LZW data), graphic control extensions (delays, disposal, transparency), the loop count
(NETSCAPE2.0 or ANIMEXTS1.0 application extension), the ICC profile (ICCRGBG1012) and the
trailer. Everything else goes: comment extensions, plain text extensions, other application
extensions (XMP among them), stray bytes between blocks and anything after the trailer. A
file cut short in its last image keeps what there is of it: decoders show those rows.
"""

from __future__ import annotations

from ..containers import gif_blocks, gif_header_end
from .work import Work

GRAPHIC_CONTROL = b"!\xf9"
APPLICATION = b"!\xff"
_APPLICATIONS = (b"\x0bNETSCAPE2.0", b"\x0bANIMEXTS1.0", b"\x0bICCRGBG1012")


def strip(data: bytes, work: Work) -> bytes:
    head = gif_header_end(data)
    parts, end = [work.copy(data[:head])], head
    for block in gif_blocks(data):
        work.step()
        end = block.end
        if block.kind == b",":
            parts.append(work.copy(data[block.body - 1 : block.end]))
        elif block.kind == b";":
            parts.append(b";")
        elif block.kind == GRAPHIC_CONTROL or _known_application(data, block):
            parts.append(work.copy(data[block.body - 2 : block.end]))
    if data[end : end + 1] == b"," and parts[-1] != b";":
        parts.append(work.copy(data[end:]))  # an image cut short: its rows still show
    return b"".join(parts)


def _known_application(data: bytes, block) -> bool:
    return block.kind == APPLICATION and data.startswith(_APPLICATIONS, block.body)
