"""The image formats images_app knows, in one table: every other module reads its facts here.

A format is named by Pillow's name for it (``JPEG``, ``WEBP``, ``HEIF`` ...), which is what
``IMAGES_APP["FORMATS"]``, the ``Image.format`` column and the engines use. Beside it: the
name uploaders know (an iPhone's HEIF files are "HEIC"), the extension of stored files and the
content type they are served with. Upload formats and rendition formats share the table;
``UPLOAD`` and ``RENDITION`` say which is which.

    >>> FORMATS["HEIF"].display, extension("HEIF"), content_type_for("x.heic")
    ('HEIC', 'heic', 'image/heic')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True)
class Format:
    name: str  # Pillow's
    display: str  # for people: messages, the admin form, docs
    extension: str  # of stored files, without the dot
    content_type: str


FORMATS = {
    fmt.name: fmt
    for fmt in (
        Format("JPEG", "JPEG", "jpg", "image/jpeg"),
        Format("PNG", "PNG", "png", "image/png"),
        Format("GIF", "GIF", "gif", "image/gif"),
        Format("WEBP", "WebP", "webp", "image/webp"),
        Format("AVIF", "AVIF", "avif", "image/avif"),
        # HEIF files whose pictures are HEVC-coded (all we decode) are HEIC; Pillow says image/heif.
        Format("HEIF", "HEIC", "heic", "image/heic"),
    )
}
UPLOAD = ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "HEIF")  # what an upload may be
RENDITION = ("JPEG", "PNG", "WEBP")  # what a rendition may be
HEIF_FORMATS = ("HEIF", "AVIF")  # the ISOBMFF ones: one parser, one metadata rewriter


def _format(name: str) -> Format:
    fmt = FORMATS.get(name.upper())
    if fmt is None:  # a format someone listed in a setting: say it as they did
        return Format(name.upper(), name.upper(), name.lower(), OCTET_STREAM)
    return fmt


def display_name(name: str) -> str:
    """The name people know: ``WebP``, ``HEIC``."""
    return _format(name).display


def extension(name: str) -> str:
    """The extension of a stored file of this format, without the dot."""
    return _format(name).extension


def content_type(name: str) -> str:
    """The content type a file of this format is served with."""
    return _format(name).content_type


def content_type_for(key: str) -> str:
    """The content type of a stored file, from its key's extension."""
    suffix = key.rsplit(".", 1)[-1].lower()
    found = next((fmt for fmt in FORMATS.values() if fmt.extension == suffix), None)
    return found.content_type if found else OCTET_STREAM


def listed(names: Sequence[str]) -> str:
    """``JPEG, PNG or WebP``: the display names, for a message."""
    shown = [display_name(name) for name in names]
    return ", ".join(shown[:-1]) + f" or {shown[-1]}" if len(shown) > 1 else "".join(shown)
