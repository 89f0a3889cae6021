"""The one place the rendering layer changes process-wide state: once, when
``images_app.rendering`` is first imported (importing any of its modules imports the package,
and the package imports this module first).

Each of these is global to the process by nature, so it is set once here rather than per
call (toggling warnings or plugin registries per call is not thread-safe):

1. Pillow's ``DecompressionBombWarning`` is an error. The probe checks its own limit, never
   above Pillow's, before Pillow opens a file, so this is the second line: formats the probe
   does not walk, and ``render()`` called without ``inspect_image()``.
2. pillow-heif registers its HEIF opener with Pillow (HEIC photos), where it is installed.
   AVIF needs nothing: Pillow has its own plugin.
3. libvips' operation cache is off: each upload is unique, so the cache would never hit and
   would only hold pixels. Skipped where pyvips does not import.
4. libvips' error text is read with bytes that are not UTF-8 replaced. Decoders quote the
   file in their messages (libheif: "could not parse item property 'i\\x80ot'"), and pyvips
   decodes the process-wide error buffer strictly, clearing it only after a decode that
   succeeded: one such upload made every later libvips call in the process raise
   UnicodeDecodeError, even ``image.invert()`` (pyvips looks an operation's name up as a
   property first, and reads the buffer when it is not one). pyvips 3.2.0, ``error.py``; its
   log handler (libvips' warnings, to the ``pyvips`` logger) reads the same way.

``configure()`` runs at the end of this module and is idempotent. ``set_vips_threads(n)`` is the
one setting a caller may change later: libvips' thread pool, which a Celery worker process sets
to ``IMAGES_APP["WORKER_RENDER_THREADS"]`` when it starts (``images_app.tasks``).
"""

from __future__ import annotations

import warnings

from PIL import Image

_done = False


def configure() -> None:
    """Apply the process-wide settings above (once; later calls do nothing)."""
    global _done
    if _done:
        return
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    _register_heif()
    _configure_vips()
    _done = True


def _register_heif() -> None:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return
    register_heif_opener()


def _configure_vips() -> None:
    try:
        import pyvips
    except (ImportError, OSError):  # OSError: pyvips without a libvips to load
        return
    pyvips.cache_set_max(0)
    pyvips.error._to_string = pyvips._to_string = _vips_text  # errors; warnings


def _vips_text(text) -> str:
    """pyvips' ``_to_string`` for libvips' error buffer and warnings, tolerant of any bytes."""
    from pyvips import ffi

    if text == ffi.NULL:
        return "NULL"
    return ffi.string(text).decode("utf-8", "replace")


def set_vips_threads(threads: int) -> bool:
    """Size libvips' thread pool for the whole process (its default: one thread per core).

    Returns False where pyvips does not import. For a process that renders one image at a time
    per core, as a Celery worker process does: call it once at process start, not per render.
    """
    try:
        import pyvips
    except (ImportError, OSError):
        return False
    pyvips.concurrency_set(threads)
    return True


configure()
