"""Where the app's files go: one storage alias, chosen in settings, nothing S3-specific here."""

from __future__ import annotations

import logging
import re
import secrets
import threading
import weakref
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.core.files.storage.handler import InvalidStorageError

from .bulk import bulk_operations
from .conf import app_settings

logger = logging.getLogger(__name__)


class StorageFailure(Exception):
    """A storage call failed; whatever the upload had written has been cleaned up or queued."""


def get_storage() -> Storage:
    """The storage named by IMAGES_APP["STORAGE"], or Django's default storage."""
    try:
        return storages[app_settings.STORAGE]
    except InvalidStorageError:
        return storages["default"]


def new_key_prefix(owner_id: int, type_name: str) -> str:
    """``uploads/<owner>/<type>/<token>``: unguessable, collision-free, no client input in it."""
    return f"{app_settings.KEY_PREFIX}/{owner_id}/{type_name}/{secrets.token_urlsafe(18)}"


def file_key(prefix: str, name: str, extension: str) -> str:
    """``<prefix>/<name>.<ext>``: where an image's original or rendition ``name`` is stored."""
    return f"{prefix}/{name}.{extension}"


# Keys the app makes (prefix, owner id, type, urlsafe token, name.ext): nothing a URL must escape,
# no segment a URL resolver would treat specially ("." or "..").
PLAIN_KEY = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]*(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*")
URL_PROBES = ("probe-a/1/x.jpg", "probe_B/22/y-z.png")
_url_bases: weakref.WeakKeyDictionary[Storage, str | None] = weakref.WeakKeyDictionary()


def file_url(storage: Storage, key: str) -> str:
    """``storage.url(key)``, built as base URL + key where the storage's URLs are that simple.

    A list page needs seven URLs per image; through django-storages' S3 backend without a custom
    domain each ``url()`` is a botocore request signing (~0.1-0.2 ms). Whether a storage's URLs
    are "base + key" is learned once per storage instance by asking it for two probe keys: if
    both answers are one base followed by the key, with no query string (signed URLs have one),
    every plain key gets that base. Any other storage is asked for each key, as before.
    """
    base = _url_base(storage)
    if base is None or not PLAIN_KEY.fullmatch(key):
        return storage.url(key)
    return base + key


def _url_base(storage: Storage) -> str | None:
    try:
        return _url_bases[storage]
    except KeyError:
        pass
    except TypeError:  # a storage that cannot be weakly referenced or hashed: ask it each time
        return None
    bases = set()
    try:
        for probe in URL_PROBES:
            url = storage.url(probe)
            bases.add(url.removesuffix(probe) if url.endswith(probe) and "?" not in url else None)
    except Exception:  # a storage without URLs, or one that needs the network for them
        bases = {None}
    base = bases.pop() if len(bases) == 1 else None
    _url_bases[storage] = base
    return base


def write(
    storage: Storage,
    key: str,
    data: bytes,
    content_type: str,
    *,
    replace: bool = False,
    sha256: bytes | None = None,
) -> None:
    """Write ``data`` at exactly ``key`` with its Content-Type; StorageFailure on any error.

    ``replace`` writes over a file already at ``key``. Storages that would choose another name
    for a taken key (the filesystem; S3 without ``file_overwrite``) get the old file deleted
    first; S3 with ``file_overwrite`` replaces the object in one PUT (``bulk.S3Bulk.write``), so
    readers see the old file or the new one, never none. ``sha256``, the digest of ``data``
    where the caller has it, goes to a backend that can have the bytes verified against it
    (``bulk.S3Bulk.write``).
    """
    try:
        if bulk_operations(storage).write(key, data, content_type, sha256=sha256):
            return  # one request (S3: PutObject, which replaces a file at the key in place)
        content = ContentFile(data)
        content.content_type = content_type
        if replace and storage.get_available_name(key) != key:
            storage.delete(key)
        saved = storage.save(key, content)
    except Exception as exc:
        raise StorageFailure(f"Could not write {key}: {exc}") from exc
    if saved != key:  # the storage renamed it: a collision we must not paper over
        delete(storage, [saved])
        raise StorageFailure(f"Storage refused the key {key} (it chose {saved}).")


def delete(storage: Storage, keys: Iterable[str]) -> list[str]:
    """Delete each key; return the keys not deleted.

    Stops at the first failure: during an outage each further call would wait out its own
    timeouts and retries, and the callers keep what is returned queued for ``sweep_storage``.
    """
    keys = list(keys)
    for index, key in enumerate(keys):
        try:
            storage.delete(key)
        except Exception:
            logger.warning("images_app: could not delete %s", key, exc_info=True)
            return keys[index:]
    return []


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def executor() -> ThreadPoolExecutor:
    """One pool of writer threads for the process.

    Long-lived threads keep their storage connections (django-storages opens one boto3
    session per thread), so a write does not pay for a new client each upload.
    """
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=app_settings.WRITE_THREADS, thread_name_prefix="images-write"
            )
        return _executor
