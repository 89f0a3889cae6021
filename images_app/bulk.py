"""Listing and batch deletion, per storage backend: what housekeeping needs at a million files.

Django's Storage API lists one directory at a time and deletes one file a call: on S3 that is a
LIST request per image "folder", a HEAD per file for its age and a DELETE per file. A
``BulkOperations`` class does the same work in pages, chosen by the class of the storage (the
app never asks "is this S3"):

- ``pages(prefix, start_after)``: every file below ``prefix`` in key order, a page at a time, each
  with its modification time, so a sweep can stop after any page and resume after its last key;
- ``delete(keys)``: delete in batches; return the keys not deleted;
- ``write(key, data, content_type, sha256=None)``: write one file in one request where the
  backend can, so an upload's six files cost six plain PUTs; ``sha256``, where the caller has
  it (the original's), lets a backend that verifies checksums check the bytes against it.

Built in: ``S3Bulk`` for django-storages' S3Storage (one flat ListObjectsV2 of 1,000 keys a
request, LastModified from the listing, DeleteObjects of 1,000 keys a request, PutObject),
``FileSystemBulk`` for Django's FileSystemStorage (a sorted ``os.scandir`` walk), and the base
class for any other storage (``listdir`` and ``get_modified_time``). Another backend gets its own
class through IMAGES_APP["BULK_OPERATIONS"] = {"<storage class path>": "<BulkOperations path>"};
the storage's class and its bases are looked up in that mapping, then in the built-in one.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

from django.core.files.storage import Storage
from django.utils.module_loading import import_string

from .conf import app_settings

logger = logging.getLogger(__name__)

BUILT_IN = {
    "storages.backends.s3.S3Storage": "images_app.bulk.S3Bulk",
    "storages.backends.s3boto3.S3Boto3Storage": "images_app.bulk.S3Bulk",
    "django.core.files.storage.filesystem.FileSystemStorage": "images_app.bulk.FileSystemBulk",
}


@dataclass(frozen=True)
class Listed:
    """A stored file (or, on a filesystem, an empty directory) found by a listing."""

    key: str
    modified: datetime
    directory: bool = False


class BulkOperations:
    """Any Django storage: ``listdir`` per directory, ``get_modified_time`` and ``delete`` per file.

    Override ``walk`` to list faster and ``delete_batch`` to delete many keys a call.
    """

    page_size = 1000  # keys a page, and a batch delete

    def __init__(self, storage: Storage):
        self.storage = storage

    def pages(self, prefix: str, start_after: str = "") -> Iterator[list[Listed]]:
        """Every file below ``prefix`` (keys > ``start_after``), in key order, a page at a time."""
        entries = self.walk(prefix.strip("/"), start_after)
        while page := list(islice(entries, self.page_size)):
            yield page

    def walk(self, prefix: str, start_after: str) -> Iterator[Listed]:
        """Override this method to list a backend faster; keys must come in code-point order."""
        yield from _sorted_walk(prefix, start_after, self._scan, self._directory_time)

    def delete(self, keys: Iterable[str]) -> list[str]:
        """Delete ``keys`` a batch at a time; return the ones not deleted.

        Stops at the first failed batch: during an outage each further call would wait out its
        own timeouts and retries. The callers keep what is returned for ``sweep_storage``.
        """
        keys = list(keys)
        for start in range(0, len(keys), self.page_size):
            batch = keys[start : start + self.page_size]
            failed = self.delete_batch(batch)
            if failed:
                done = set(batch) - set(failed)
                return [key for key in keys[start:] if key not in done]
        return []

    def delete_batch(self, keys: list[str]) -> list[str]:
        """Override this method to delete many keys a call; return the keys not deleted."""
        for index, key in enumerate(keys):
            try:
                self.storage.delete(key)
            except Exception:
                logger.warning("images_app: could not delete %s", key, exc_info=True)
                return keys[index:]
        return []

    def write(self, key: str, data: bytes, content_type: str, sha256: bytes | None = None) -> bool:
        """Override this method to write ``data`` at exactly ``key`` (replacing a file there)
        in one call; return False to leave it to Django's ``save`` (``storage.write``).
        ``sha256``: the digest of ``data`` where the caller has it, for a backend that can have
        the bytes verified against it."""
        return False

    def _scan(self, path: str) -> tuple[list[str], list[tuple[str, datetime]]]:
        directories, files = self.storage.listdir(path)
        modified = self.storage.get_modified_time
        return directories, [(name, modified(f"{path}/{name}")) for name in files]

    def _directory_time(self, path: str) -> datetime:
        return self.storage.get_modified_time(path)


class FileSystemBulk(BulkOperations):
    """Django's FileSystemStorage: one ``os.scandir`` per directory, times from its entries.

    Deleting an image's files also removes its own directory (``<KEY_PREFIX>/<owner>/<type>/
    <token>``) once it is empty, so a million deletes do not leave a million empty directories
    until the next ``sweep_storage``. Only that directory: an upload of the same owner and type
    may be creating its own next to it, so the shared ones above are left to the sweep, which
    removes empty directories only once they are older than its grace period.
    """

    def delete_batch(self, keys: list[str]) -> list[str]:
        failed = super().delete_batch(keys)
        not_deleted = set(failed)
        for directory in {os.path.dirname(key) for key in keys if key not in not_deleted}:
            if _is_image_directory(directory):
                # OSError: not empty (a re-render wrote a file meanwhile), or already gone
                with contextlib.suppress(OSError):
                    os.rmdir(self.storage.path(directory))
        return failed

    def _scan(self, path: str) -> tuple[list[str], list[tuple[str, datetime]]]:
        directories, files = [], []
        with os.scandir(self.storage.path(path)) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    directories.append(entry.name)
                else:
                    files.append((entry.name, _utc(entry.stat(follow_symlinks=False).st_mtime)))
        return directories, files

    def _directory_time(self, path: str) -> datetime:
        return _utc(os.stat(self.storage.path(path)).st_mtime)


class S3Bulk(BulkOperations):
    """django-storages' S3Storage: ListObjectsV2 without a delimiter, DeleteObjects.

    A million objects cost 1,000 LIST requests and, for the ones to go, a DeleteObjects request
    per 1,000 keys; no HEAD: each key's age comes with the listing.
    """

    def walk(self, prefix: str, start_after: str) -> Iterator[Listed]:
        root = self._full(prefix) + "/"
        params = {"Bucket": self.storage.bucket_name, "Prefix": root}
        if start_after:
            params["StartAfter"] = self._full(start_after)
        paginator = self._client().get_paginator("list_objects_v2")
        for page in paginator.paginate(**params, PaginationConfig={"PageSize": self.page_size}):
            for item in page.get("Contents", []):
                yield Listed(self._relative(item["Key"]), item["LastModified"])

    def delete_batch(self, keys: list[str]) -> list[str]:
        objects = [{"Key": self._full(key)} for key in keys]
        try:
            answer = self._client().delete_objects(
                Bucket=self.storage.bucket_name, Delete={"Objects": objects, "Quiet": True}
            )
        except Exception:
            logger.warning("images_app: could not delete %d keys", len(keys), exc_info=True)
            return keys
        errors = {self._relative(error["Key"]) for error in answer.get("Errors", [])}
        if errors:
            logger.warning("images_app: S3 refused to delete %d of %d keys", len(errors), len(keys))
        return [key for key in keys if key in errors]

    def write(self, key: str, data: bytes, content_type: str, sha256: bytes | None = None) -> bool:
        """One PutObject with the parameters django-storages' ``save`` would send (its object
        parameters, the Content-Type, its default ACL). ``save`` goes through s3transfer's
        managed upload: a transfer manager, futures and a thread pool for every file (its
        issue #610); an upload's six files cost 24-26 ms of CPU that way against 15-16 ms as
        six PutObjects (against moto over HTTP, where botocore also hashes each body to sign
        it). Where ``save`` would do more (rename instead of overwrite, gzip) it does it.

        With ``sha256`` (the original's, the row's ``checksum``) the PUT carries it as
        ``ChecksumSHA256``: S3 refuses bytes that do not match it and keeps it with the object
        (HeadObject with ChecksumMode), so a stored original can be checked against its row
        without downloading it. botocore then computes no CRC32 of its own over the file (over
        plain HTTP 0.7-1 ms less client CPU; over HTTPS it signs the body's SHA-256 instead of
        streaming it unsigned with a CRC32 trailer, about the same CPU). Only where botocore
        sends checksums itself (its default since 1.36): not where the client is set to send
        them only when required (``AWS_REQUEST_CHECKSUM_CALCULATION=when_required``, for
        S3-compatible stores that reject them)."""
        storage = self.storage
        if not storage.file_overwrite or (
            storage.gzip and content_type in storage.gzip_content_types
        ):
            return False
        name = self._full(key)
        params = {"ContentType": content_type, **storage.get_object_parameters(name)}
        if "ACL" not in params and storage.default_acl:
            params["ACL"] = storage.default_acl
        client = self._client()
        # botocore before 1.36 has no such setting and sends no checksums: nor does the app then
        sending = getattr(client.meta.config, "request_checksum_calculation", None)
        if sha256 and sending == "when_supported":
            params["ChecksumAlgorithm"] = "SHA256"
            params["ChecksumSHA256"] = base64.b64encode(sha256).decode("ascii")
        client.put_object(Bucket=storage.bucket_name, Key=name, Body=data, **params)
        return True

    def _client(self):
        return self.storage.connection.meta.client  # the storage's own, per thread

    def _full(self, key: str) -> str:
        location = self.storage.location.strip("/")
        return f"{location}/{key}" if location else key

    def _relative(self, key: str) -> str:
        location = self.storage.location.strip("/")
        return key[len(location) + 1 :] if location else key


def bulk_operations(storage: Storage) -> BulkOperations:
    """The BulkOperations for ``storage``, chosen by its class (and its bases)."""
    chosen = {**BUILT_IN, **app_settings.BULK_OPERATIONS}
    for cls in type(storage).__mro__:
        path = chosen.get(f"{cls.__module__}.{cls.__qualname__}")
        if path:
            return import_string(path)(storage)
    return BulkOperations(storage)


def _sorted_walk(prefix, start_after, scan, directory_time) -> Iterator[Listed]:
    """Depth first, each directory's entries sorted so the keys come in code-point order.

    A directory sorts by its name plus "/" (the first character of every key below it), so
    ``a/x`` comes after ``a-b/y``, as S3 sorts them. Subtrees wholly at or before
    ``start_after`` are skipped without being listed. A directory with nothing in it is listed
    itself (``directory=True``): only a filesystem keeps those, and a sweep removes them.
    """
    try:
        directories, files = scan(prefix)
    except FileNotFoundError:
        return
    if not directories and not files:
        yield Listed(prefix, directory_time(prefix), directory=True)
        return
    entries = [(f"{prefix}/{name}", modified) for name, modified in files]
    entries += [(f"{prefix}/{name}/", None) for name in directories]
    for key, modified in sorted(entries):
        if modified is not None:
            if key > start_after:
                yield Listed(key, modified)
        elif key > start_after or start_after.startswith(key):
            yield from _sorted_walk(key[:-1], start_after, scan, directory_time)


def _is_image_directory(directory: str) -> bool:
    """Whether ``directory`` is one image's own: ``<KEY_PREFIX>/<owner>/<type>/<token>``."""
    prefix = app_settings.KEY_PREFIX.strip("/") + "/"
    return directory.startswith(prefix) and directory.removeprefix(prefix).count("/") == 2


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
