"""Where the app's files go: one storage alias, chosen in settings, nothing S3-specific here."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.core.files.storage.handler import InvalidStorageError

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


def write(
    storage: Storage, key: str, data: bytes, content_type: str, *, replace: bool = False
) -> None:
    """Write ``data`` at exactly ``key`` with its Content-Type; StorageFailure on any error.

    ``replace`` writes over a file already at ``key``. Storages that would choose another name
    for a taken key (the filesystem; S3 without ``file_overwrite``) get the old file deleted
    first; S3 with ``file_overwrite`` replaces the object in one PUT, so readers see the old file
    or the new one, never none.
    """
    content = ContentFile(data)
    content.content_type = content_type
    try:
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
