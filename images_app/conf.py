"""The app's settings: ``IMAGES_APP = {...}`` in Django settings, read through ``app_settings``.

Values are looked up on every access (after a cache that ``setting_changed`` clears), so
``override_settings(IMAGES_APP=...)`` works in tests, DRF-style.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from .rendering.engines import get_engine

MiB = 1024 * 1024

DEFAULTS = {
    # Alias in settings.STORAGES for every file the app writes; "default" if the alias is absent.
    "STORAGE": "images",
    # Storage keys: <KEY_PREFIX>/<owner id>/<type>/<random token>/<name>.<ext>
    "KEY_PREFIX": "uploads",
    # Named renditions: "max-WxH" fits inside the box, keeps the aspect ratio, never upscales.
    # "|format-auto" (JPEG when opaque, PNG with transparency) / jpeg / png / webp; "|quality-85".
    "RENDITIONS": {
        "thumb": "max-150x150",
        "thumb_retina": "max-300x300",
        "ipad": "max-1024x1024",
        "ipad_retina": "max-2048x2048",
        "ebay": "max-1600x1600",
    },
    # Names that answer with another rendition's URL (the legacy "image" is the iPad one).
    "ALIASES": {"image": "ipad"},
    # "auto" (libvips where it imports, else Pillow), "vips", "pillow", or the dotted path of a
    # images_app.rendering.engines.base.BaseEngine subclass (resolved once, like sorl-thumbnail's
    # THUMBNAIL_ENGINE). Formats an engine does not decode go to the Pillow engine.
    "ENGINE": "auto",
    # Upload formats, by Pillow's names; sniffed from the bytes, never from the filename.
    # HEIF is HEIC (iPhone photos; needs pillow-heif). AVIF goes before HEIF: Pillow tries them
    # in this order, and pillow-heif would take AVIF files it can't decode.
    "FORMATS": ["JPEG", "PNG", "GIF", "WEBP", "AVIF", "HEIF"],
    "MAX_BYTES": 20 * MiB,  # per file: a 400 field error above it
    "MAX_PIXELS": 60_000_000,  # width x height x frames, from the header: a 400 above it
    "MAX_FRAMES": 1000,  # animation frames
    # Memory one decode may take, declared pixels x bytes per pixel, from the header: a 400
    # above it. 256 MiB holds any 8-bit image up to 60 megapixels (RGBA: 229 MiB).
    "MAX_DECODE_BYTES": 256 * MiB,
    # Declared pixels per byte of file above which an upload is a decompression bomb (a 400).
    # Photos take 10-150; flat colour at 60 MP from a real encoder about 26,000 at most.
    "MAX_PIXELS_PER_BYTE": 50_000,
    "MAX_REQUEST_BYTES": 32 * MiB,  # a whole request body above it: 413
    # Versions <= this answer with negative ids (the legacy bug); None turns the bug off.
    "NEGATIVE_ID_MAX_VERSION": 7,
    # X-Api-Version: accepted range, and what a request without the header gets.
    "MIN_VERSION": 1,
    "MAX_VERSION": 12,
    "DEFAULT_VERSION": 12,
    # Paths on which every error, Django's own 404/500 included, answers with the envelope.
    "API_PATH_PREFIXES": ["/api/"],
    # DRF throttle rate for uploads per user ("120/min"); None: no throttling.
    "UPLOAD_RATE": "120/min",
    # /healthz writes and deletes a probe object at most once per this many seconds per
    # process; requests in between get the last result (the path takes no token).
    "HEALTHZ_STORAGE_SECONDS": 30,
    # /healthz waits at most this many seconds (from the probe's start) for a probe to finish; a
    # storage that has not answered by then is failing, though the probe itself goes on.
    "HEALTHZ_STORAGE_TIMEOUT": 5,
    # Seconds a client is told to wait (Retry-After) when the database cannot be reached.
    "RETRY_AFTER": 5,
    # An Idempotency-Key answers with its first answer for this long (then sweep_idempotency_keys
    # deletes it).
    "IDEMPOTENCY_SECONDS": 24 * 60 * 60,
    # Threads writing one upload's files to storage at once.
    "WRITE_THREADS": 4,
    # Encode threads of one render in web processes (uploads, the admin) and in rerender_images
    # run in process: the renditions encode in parallel for the upload's latency. 1: no pool,
    # every encode on the request's thread.
    "RENDER_THREADS": 2,
    # The same inside Celery worker processes (images_app.tasks), where libvips' own thread pool
    # is set to it too when the worker process starts: one worker process is one core's worth,
    # so throughput grows with the worker processes (run one per core).
    "WORKER_RENDER_THREADS": 1,
    # Listing and batch deletion for housekeeping, by storage class: {"<storage class path>":
    # "<images_app.bulk.BulkOperations subclass path>"}; S3 and the filesystem are built in.
    "BULK_OPERATIONS": {},
    # Deleting many images at once (a user's): files deleted right after the commit, at most;
    # the rest stay queued for `manage.py sweep_storage`, so the request stays short.
    "DELETE_INLINE_FILES": 12_000,
    # Where there are more: True queues a Celery task (images_app.tasks.delete_queued_files) that
    # deletes them in batches at once; False (no Celery needed) leaves them to sweep_storage.
    "DELETE_ENQUEUE_REST": False,
    # The admin's "Re-render selected images": selections of more images than this are queued
    # for Celery workers (images_app.tasks); None: always in the request (no Celery needed).
    "RERENDER_ENQUEUE_OVER": None,
}


class AppSettings:
    """Attribute access to IMAGES_APP with the defaults above filled in."""

    def __init__(self, defaults: dict):
        self.defaults = defaults
        self._cached: set[str] = set()

    @property
    def user_settings(self) -> dict:
        if not hasattr(self, "_user_settings"):
            self._user_settings = getattr(settings, "IMAGES_APP", {})
            unknown = sorted(set(self._user_settings) - set(self.defaults))
            if unknown:
                raise ImproperlyConfigured(
                    f"Unknown key(s) in settings.IMAGES_APP: {', '.join(unknown)}. "
                    f"Known keys: {', '.join(sorted(self.defaults))}."
                )
        return self._user_settings

    def __getattr__(self, name: str):
        if name not in self.defaults:
            raise AttributeError(f"Invalid images_app setting: {name!r}")
        value = self.user_settings.get(name, self.defaults[name])
        self._cached.add(name)
        setattr(self, name, value)
        return value

    def reload(self) -> None:
        for name in self._cached:
            delattr(self, name)
        self._cached.clear()
        if hasattr(self, "_user_settings"):
            delattr(self, "_user_settings")


app_settings = AppSettings(DEFAULTS)


def _reload(*, setting: str, **kwargs) -> None:
    if setting == "IMAGES_APP":
        app_settings.reload()
        get_engine.cache_clear()  # the ENGINE setting's resolved instance


setting_changed.connect(_reload)
