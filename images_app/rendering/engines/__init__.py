"""Rendering engines behind one function, chosen by name.

``vips`` (libvips through pyvips) is preferred wherever it imports; ``pillow`` works
everywhere. Both draw the same pictures (one correctness matrix runs over both):

- the first frame of animated GIF and WebP; the EXIF orientation applied;
- colour converted to sRGB through the embedded ICC profile (CMYK, Display P3, Adobe RGB...);
  no profile, or one that is broken or does not fit the pixels: taken as sRGB (CMYK: the plain
  formula browsers use). Renditions are untagged sRGB: no ICC, EXIF or XMP in any output;
- 16-bit sources keep their high byte; grey stays grey; an alpha channel counts only if some
  pixel is not fully opaque; resizing is LANCZOS on premultiplied alpha;
- format ``auto``: PNG where there is transparency, else JPEG; a transparent source asked for
  as JPEG is flattened onto white.

AVIF decodes with Pillow's own plugin and libvips' heifload; HEIC (iPhone photos) needs
``pillow-heif`` (registered by ``rendering.runtime``) and always decodes through Pillow: the
libheif inside pyvips-binary has no HEVC decoder. Either is accepted only if the caller's
``formats`` allow-list names it (``"AVIF"``, ``"HEIF"``).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..formats import content_type, extension
from ..spec import RenditionSpec

ENGINES = {
    "vips": "images_app.rendering.engines.vips",
    "pillow": "images_app.rendering.engines.pillow",
}


@dataclass(frozen=True)
class Output:
    """One encoded rendition."""

    name: str
    data: bytes
    format: str  # JPEG, PNG or WEBP
    width: int
    height: int

    @property
    def extension(self) -> str:
        return extension(self.format)

    @property
    def content_type(self) -> str:
        return content_type(self.format)


def available_engines() -> list[str]:
    """The engine names that import on this machine, preferred first."""
    return list(_importable())


@functools.cache  # a failed import is retried on every attempt: try each engine once
def _importable() -> tuple[str, ...]:
    names = []
    for name, module in ENGINES.items():
        try:
            importlib.import_module(module)
        except (ImportError, OSError):  # OSError: pyvips without a libvips to load
            continue
        names.append(name)
    return tuple(names)


def render(
    data: bytes,
    specs: Sequence[RenditionSpec],
    *,
    formats: Sequence[str],
    engine: str = "auto",
    on_output: Callable[[Output], None] | None = None,
) -> list[Output]:
    """Decode ``data`` once and encode one Output per spec, in the order of ``specs``.

    ``on_output`` is called with each Output as soon as it is encoded (possibly from a
    worker thread), so callers can start writing it while the rest are still encoding.
    Raises InvalidImage when the source cannot be decoded.
    """
    name = available_engines()[0] if engine == "auto" else engine
    if name not in ENGINES:
        raise ValueError(f"Unknown rendering engine {engine!r}; choose from {sorted(ENGINES)}.")
    module = importlib.import_module(ENGINES[name])
    return module.render(data, specs, formats=formats, on_output=on_output)
