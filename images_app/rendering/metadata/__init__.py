"""The stored original: the upload's encoded image data byte for byte, its metadata reduced
to an allow-list.

Location hides in more places than anyone can list: GPS IFDs linked from the Exif or Interop
IFD, SubIFDs or a third IFD; XMP, IPTC and Photoshop resources inside EXIF; maker notes; the
thumbnail's own EXIF; XMP packets, IPTC blocks, comments and text chunks; boxes and items a
HEIF viewer never reads. So nothing is looked for: each container is rebuilt from what a
viewer needs to show the picture right, and everything else is left behind.

- Kept, byte for byte: the encoded pictures, the structure decoding them needs (tables,
  animation control, JPEG's Adobe marker for CMYK, PNG's palette and transparency) and the
  colour profile and colour description.
- Rebuilt: the orientation. EXIF is replaced by a fresh TIFF block holding only the
  orientation tag (``exif``), or dropped where the orientation is 1 or absent. It is read
  from the same EXIF block Pillow reads, so the original shows the way its renditions were
  drawn.
- Dropped: every other EXIF tag and sub-IFD, maker notes, thumbnails, XMP, IPTC, Photoshop
  resources, comments, text chunks, unknown segments, chunks and boxes, and whatever follows
  the image's end.

One module per container (``jpeg``, ``png``, ``gif``, ``webp``, ``heif``); each walks the
container once with the probe's bounded walkers and copies or zeroes each byte at most once,
so the work is linear in the file's size. ``Work`` counts it, for tests.
"""

from __future__ import annotations

from . import gif, heif, jpeg, png, webp
from .work import Work

_STRIPPERS = {
    "JPEG": jpeg.strip,
    "MPO": jpeg.strip,
    "PNG": png.strip,
    "GIF": gif.strip,
    "WEBP": webp.strip,
    "HEIF": lambda data, work: heif.strip(data, "HEIF", work),
    "AVIF": lambda data, work: heif.strip(data, "AVIF", work),
}
STRIP_FORMATS = frozenset(_STRIPPERS)


def strip_metadata(data: bytes, format: str, *, work: Work | None = None) -> bytes:
    """``data`` with its metadata reduced to the allow-list (see the module docstring).

    Raises ValueError for a format it can't rewrite, so allowing a new format without
    teaching this function fails loudly instead of serving its metadata.
    """
    strip = _STRIPPERS.get(format.upper())
    if strip is None:
        raise ValueError(f"strip_metadata() can't rewrite {format!r} files; teach it first.")
    return strip(data, work or Work())


__all__ = ["STRIP_FORMATS", "Work", "strip_metadata"]
