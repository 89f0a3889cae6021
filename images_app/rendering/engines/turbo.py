"""JPEG decoding through libjpeg-turbo's TurboJPEG API (simplejpeg): the vips engine's decoder.

Why not libvips' own ``jpegload``: the same libjpeg-turbo work costs less CPU through
TurboJPEG straight into one buffer (12 MP q90 photo, one call in a fresh process: 48-50 ms
against libvips' 79-83 ms), and the decode stays whole in memory, so the largest renditions can
each be made from it (BaseEngine's plan; docs/renderer.md).

Scales are 1/1, 1/2, 1/4 and 1/8 only (``base.shrink_factor``), as libvips and Pillow's
``draft`` use. libjpeg-turbo also scales by any N/8 in the DCT domain, but measured here that
is no gain and a visible loss: the other N/8 IDCTs have no SIMD code, so decoding a 12 MP
photo at 5/8 takes 58 ms against 48 ms at full size (the Huffman decoding, 26 ms, is the same
at every scale), and each 8x8 block is scaled on its own, which softens one-pixel lines: the
test chart's 2048 px rendition falls from 51.7 dB to 30.7 dB against one-step LANCZOS.

What this decoder leaves to libvips (``decode`` answers None, the caller loads it as before):
CMYK and YCCK JPEGs (Adobe's inverted CMYK and their profiles are libvips' and lcms' job),
anything libjpeg warns about (truncated or corrupt data: libvips decides, and refuses what
Pillow refuses), and machines without simplejpeg. ICC profile and orientation come from the
header libvips already read, so they are honoured on both paths alike.
"""

from __future__ import annotations

import math
from typing import Any

try:
    import simplejpeg
except ImportError:  # optional: libvips decodes every JPEG without it
    simplejpeg = None

# decode_jpeg_header's colour space -> the buffer asked for; others go to libvips.
_COLOURS = {"YCbCr": "RGB", "RGB": "RGB", "Gray": "GRAY"}


def decode(data: bytes, factor: int, *, reduced: bool = False) -> Any | None:
    """The JPEG's pixels at 1/``factor`` of its stored size, an (height, width, bands) uint8
    array (bands: 3 for RGB, 1 for grey); None where libvips should decode it instead.

    ``reduced``: every rendition is at least LOAD_GAP times smaller than the decode, so the
    chroma planes are upsampled by replication, not libjpeg's "fancy" triangle filter: 10-15%
    less decode CPU on a 4:2:0 photo, and what the resize then averages away (measured: the
    renditions stay 54-57 dB from the fancy decode's, photo and sharp chart alike)."""
    if simplejpeg is None:
        return None
    try:
        height, width, colour, _ = simplejpeg.decode_jpeg_header(data)
        if colour not in _COLOURS:
            return None
        return simplejpeg.decode_jpeg(
            data,
            colorspace=_COLOURS[colour],
            min_width=math.ceil(width / factor),
            min_height=math.ceil(height / factor),
            fastupsample=reduced,
        )
    except ValueError:  # strict mode: any libjpeg warning or error
        return None
