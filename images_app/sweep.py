"""Storage housekeeping behind ``manage.py sweep_storage``.

Two kinds of file outlive their purpose: files whose row is gone but whose deletion failed
(queued in PendingDeletion), and files no row ever came to reference (an upload that died between
its writes and its insert, a delete that failed while the storage was down, a transaction that
rolled back after the files were written). The sweep finishes the first and removes the second
once they are older than a grace period, so uploads in flight are never touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import Storage
from django.utils import timezone

from .conf import app_settings
from .deletion import PendingDeletion, delete_queued
from .models import Image
from .storage import delete, get_storage

DEFAULT_GRACE_SECONDS = 3600


@dataclass
class SweepReport:
    """What a sweep did (or, with ``dry_run``, would do); every list holds storage keys."""

    dry_run: bool
    older_than: float
    queued_deleted: list[str] = field(default_factory=list)
    queued_failed: list[str] = field(default_factory=list)
    queued_referenced: list[str] = field(default_factory=list)  # dropped: a row owns the file
    orphans_deleted: list[str] = field(default_factory=list)
    orphans_failed: list[str] = field(default_factory=list)
    orphans_young: list[str] = field(default_factory=list)  # unreferenced, inside the grace
    directories_removed: list[str] = field(default_factory=list)
    listing_error: str | None = None  # the storage could not be listed: no orphan was looked at

    @property
    def failed(self) -> list[str]:
        return self.queued_failed + self.orphans_failed


def sweep_storage(
    *,
    older_than: float = DEFAULT_GRACE_SECONDS,
    dry_run: bool = False,
    now: datetime | None = None,
) -> SweepReport:
    """Finish queued deletions, then delete unreferenced files older than ``older_than`` seconds.

    Only keys under IMAGES_APP["KEY_PREFIX"] are looked at; a file a row references is never
    deleted. With ``older_than=0`` an upload in flight can lose its files: keep the default
    unless nothing is uploading.
    """
    prefix = app_settings.KEY_PREFIX.strip("/")
    if not prefix:
        raise ImproperlyConfigured(
            'IMAGES_APP["KEY_PREFIX"] is empty, so every file in the storage would look like the '
            'app\'s own. Set a prefix (the default is "uploads") before sweeping.'
        )
    storage = get_storage()
    report = SweepReport(dry_run=dry_run, older_than=older_than)
    _finish_queue(report)
    cutoff = (now or timezone.now()) - timedelta(seconds=older_than)
    _remove_orphans(storage, prefix, cutoff, report)
    return report


def referenced_keys() -> set[str]:
    """Every key an image row points to."""
    keys = set()
    for original, renditions in Image.objects.values_list("original_key", "renditions").iterator():
        keys.add(original)
        keys.update(entry.key for entry in renditions.values())
    return keys


def _finish_queue(report: SweepReport) -> None:
    # The queue is read before the rows: a queued key's transaction has committed, so its row is
    # gone; a key a row still references was queued by mistake and its file is kept.
    queued = list(PendingDeletion.objects.values_list("key", flat=True))
    referenced = referenced_keys() if queued else set()
    report.queued_referenced = [key for key in queued if key in referenced]
    keys = [key for key in queued if key not in referenced]
    if report.dry_run:
        report.queued_deleted = keys
        return
    PendingDeletion.objects.filter(key__in=report.queued_referenced).delete()
    report.queued_failed = delete_queued(keys)
    report.queued_deleted = [key for key in keys if key not in set(report.queued_failed)]


def _remove_orphans(storage: Storage, prefix: str, cutoff: datetime, report: SweepReport) -> None:
    # Storage is listed before the rows are read: a file listed here whose upload commits
    # meanwhile is then referenced; one whose upload is still running is younger than the cutoff.
    files, empty_dirs = [], []
    try:
        for kind, key in _walk(storage, prefix):
            (files if kind == "file" else empty_dirs).append(key)
    except Exception as exc:
        report.listing_error = f"{type(exc).__name__}: {exc}"
        return
    referenced = referenced_keys()
    queued = {*report.queued_deleted, *report.queued_failed}  # a dry run leaves them stored
    candidates = [key for key in files if key not in referenced and key not in queued]
    old = []
    for key in candidates:
        try:
            modified = storage.get_modified_time(key)
        except FileNotFoundError:
            continue  # deleted meanwhile
        except Exception:
            report.orphans_failed.append(key)
            continue
        (old if modified <= cutoff else report.orphans_young).append(key)
    if report.dry_run:
        report.orphans_deleted = old
    else:
        report.orphans_failed += delete(storage, old)
        report.orphans_deleted = [key for key in old if key not in set(report.orphans_failed)]
    for path in empty_dirs:  # only filesystems keep empty directories
        if path != prefix and _older(storage, path, cutoff):
            if not report.dry_run and delete(storage, [path]):
                continue
            report.directories_removed.append(path)


def _walk(storage: Storage, path: str) -> Iterator[tuple[str, str]]:
    """("file", key) for each file below ``path``; ("dir", path) for each empty directory."""
    try:
        directories, files = storage.listdir(path)
    except FileNotFoundError:
        return
    for name in files:
        yield "file", f"{path}/{name}"
    for name in directories:
        yield from _walk(storage, f"{path}/{name}")
    if not directories and not files:
        yield "dir", path


def _older(storage: Storage, path: str, cutoff: datetime) -> bool:
    try:
        return storage.get_modified_time(path) <= cutoff
    except Exception:
        return False
