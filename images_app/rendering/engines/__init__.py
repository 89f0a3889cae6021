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

Choosing an engine (``IMAGES_APP["ENGINE"]``, passed to ``render`` as ``engine``): ``"auto"``
(the first of ``ENGINES`` that imports), a name from ``ENGINES``, or the dotted path of a
``BaseEngine`` subclass, as sorl-thumbnail's ``THUMBNAIL_ENGINE``. ``get_engine`` resolves a
setting once and keeps the instance (the app clears it on ``setting_changed``).

Which engine decodes which format is one rule, ``decoder_for``: the chosen engine where its
``decodes`` names the format (``None``: every format), else ``FALLBACK``, which decodes every
format the app accepts. The vips engine's row is its loader table, ``vips._LOADERS``.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..containers import without_damaged_chunks
from ..formats import content_type, extension
from ..spec import RenditionSpec

if TYPE_CHECKING:
    from .base import BaseEngine

# Engine name -> the dotted path of its class, preferred first ("auto" takes the first that
# imports). IMAGES_APP["ENGINE"] takes one of these names or a dotted path of its own.
ENGINES = {
    "vips": "images_app.rendering.engines.vips.VipsEngine",
    "pillow": "images_app.rendering.engines.pillow.PillowEngine",
}
# Decodes every format the app accepts: takes what the chosen engine's ``decodes`` leaves out.
FALLBACK = "pillow"


@dataclass(frozen=True)
class Output:
    """One encoded rendition."""

    name: str
    data: bytes
    format: str  # JPEG, PNG or WEBP
    width: int
    height: int
    # Which decoder read the source, and at what scale ("turbojpeg 1/2", "libvips",
    # "pillow 1/1"...): the correctness matrix asserts on it.
    decoded_by: str = ""

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
    for name, path in ENGINES.items():
        try:
            _import_class(path)
        except (ImportError, OSError):  # OSError: pyvips without a libvips to load
            continue
        names.append(name)
    return tuple(names)


@functools.cache
def get_engine(engine: str = "auto") -> BaseEngine:
    """The engine instance for a setting: "auto", a name from ENGINES or a dotted class path.

    Resolved once per setting and kept (engines hold no per-call state); ``get_engine
    .cache_clear()`` forgets them. Raises ValueError naming the choices when it can't resolve.
    """
    from .base import BaseEngine

    if engine == "auto":
        engine = available_engines()[0]
    path = ENGINES.get(engine, engine)
    if "." not in path:
        raise ValueError(
            f"Unknown rendering engine {engine!r}; choose from {sorted(ENGINES)}, "
            "or give the dotted path of a BaseEngine subclass."
        )
    try:
        cls = _import_class(path)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"Rendering engine {engine!r} does not import: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, BaseEngine)):
        raise ValueError(f"Rendering engine {engine!r} is not a BaseEngine subclass.")
    return cls()


def decoder_for(engine: BaseEngine, fmt: str) -> BaseEngine:
    """The rule: ``engine`` decodes ``fmt`` if its ``decodes`` names it (or is None), else
    FALLBACK does. One engine renders a source from decode to encode."""
    if engine.decodes is None or fmt in engine.decodes:
        return engine
    return get_engine(FALLBACK)


def render(
    data: bytes,
    specs: Sequence[RenditionSpec],
    *,
    formats: Sequence[str],
    engine: str = "auto",
    on_output: Callable[[Output], None] | None = None,
    threads: int | None = None,
) -> list[Output]:
    """Decode ``data`` once and encode one Output per spec, in the order of ``specs``.

    ``engine`` is a setting as ``get_engine`` takes it; the format sniffed from ``data``
    picks the engine that decodes it (``decoder_for``). ``on_output`` is called with each
    Output as soon as it is encoded (possibly from a worker thread), so callers can start
    writing it while the rest are still encoding. Raises InvalidImage when the source cannot
    be decoded. ``threads``: the encode threads of this render (``base.WORKERS`` if None; 1:
    every encode on the calling thread, as ``IMAGES_APP["WORKER_RENDER_THREADS"]`` has it in
    Celery workers).
    """
    from .base import WORKERS, source_format

    data = without_damaged_chunks(data)  # as libpng reads it; Pillow would refuse the file
    chosen = get_engine(engine)
    decoder = decoder_for(chosen, source_format(data, formats))
    threads = WORKERS if threads is None else threads
    return decoder.render(data, specs, formats=formats, on_output=on_output, threads=threads)


def _import_class(path: str) -> type:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)
