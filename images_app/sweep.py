"""Storage housekeeping behind ``manage.py sweep_storage``.

Two kinds of file outlive their purpose: files whose row is gone but whose deletion failed
(queued in PendingDeletion), and files no row ever came to reference (an upload that died between
its writes and its insert, a delete that failed while the storage was down, a transaction that
rolled back after the files were written). The sweep finishes the first and removes the second
once they are older than a grace period, so uploads in flight are never touched.

Scale. Nothing grows with the store but the counters: the queue is read a batch of ids at a
time; the storage is listed in key order a page at a time (``bulk.py``: on S3 one flat
ListObjectsV2 request per 1,000 objects, ages from the listing, no HEAD); each page is checked
against the database with one indexed query (the rows whose ``key_prefix`` the page's keys lie
under) and its orphans go in one batch delete (DeleteObjects on S3). The listing drives and the
database answers per page, rather than a merge of two sorted streams, because databases sort
keys by collation and S3 by bytes: a lookup by the page's own keys is exact on every database.
Every page ends at a key, so a stopped sweep resumes after it (``start_after``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ImproperlyConfigured
from django.db import reset_queries
from django.utils import timezone

from .bulk import BulkOperations, Listed, bulk_operations
from .conf import app_settings
from .deletion import PendingDeletion, delete_queued
from .models import Image
from .storage import get_storage

DEFAULT_GRACE_SECONDS = 3600
KEEP_KEYS = 1000  # keys a report keeps per outcome (it counts them all)

OUTCOMES = (
    "queued_deleted",
    "queued_failed",
    "queued_referenced",  # dropped from the queue: a row owns the file
    "orphans_deleted",
    "orphans_failed",
    "orphans_young",  # unreferenced, inside the grace period
    "directories_removed",
)


@dataclass
class SweepReport:
    """What a sweep did (or, with ``dry_run``, would do).

    ``counts[outcome]`` counts every key; the lists of the same names keep the first
    ``KEEP_KEYS`` of them, so a sweep of a million files reports in constant memory.
    """

    dry_run: bool
    older_than: float
    queued_deleted: list[str] = field(default_factory=list)
    queued_failed: list[str] = field(default_factory=list)
    queued_referenced: list[str] = field(default_factory=list)
    orphans_deleted: list[str] = field(default_factory=list)
    orphans_failed: list[str] = field(default_factory=list)
    orphans_young: list[str] = field(default_factory=list)
    directories_removed: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    listed: int = 0  # objects listed
    pages: int = 0  # listing pages (on S3, LIST requests)
    last_key: str = ""  # the last key of the last page done: resume after it
    stopped: bool = False  # stopped on request before the listing's end
    listing_error: str | None = None  # the storage could not be listed: no orphan was looked at
    on_keys: Callable[[str, list[str]], None] | None = field(default=None, repr=False)

    def add(self, outcome: str, keys: list[str]) -> None:
        kept = getattr(self, outcome)
        kept.extend(keys[: max(KEEP_KEYS - len(kept), 0)])
        self.counts[outcome] += len(keys)
        if self.on_keys and keys:
            self.on_keys(outcome, keys)

    @property
    def failed(self) -> int:
        return self.counts["queued_failed"] + self.counts["orphans_failed"]


def sweep_storage(
    *,
    older_than: float = DEFAULT_GRACE_SECONDS,
    dry_run: bool = False,
    now: datetime | None = None,
    start_after: str = "",
    on_keys: Callable[[str, list[str]], None] | None = None,
    on_page: Callable[[SweepReport], bool | None] | None = None,
) -> SweepReport:
    """Finish queued deletions, then delete unreferenced files older than ``older_than`` seconds.

    Only keys under IMAGES_APP["KEY_PREFIX"] are looked at; a file a row references is never
    deleted. With ``older_than=0`` an upload in flight can lose its files: keep the default
    unless nothing is uploading. ``start_after`` resumes a stopped sweep's listing after that
    key. ``on_keys(outcome, keys)`` hears of every key as it is handled; ``on_page(report)``
    after every listing page, and a true answer stops the sweep there.
    """
    prefix = app_settings.KEY_PREFIX.strip("/")
    if not prefix:
        raise ImproperlyConfigured(
            'IMAGES_APP["KEY_PREFIX"] is empty, so every file in the storage would look like the '
            'app\'s own. Set a prefix (the default is "uploads") before sweeping.'
        )
    bulk = bulk_operations(get_storage())
    report = SweepReport(dry_run=dry_run, older_than=older_than, on_keys=on_keys)
    _finish_queue(bulk, report)
    cutoff = (now or timezone.now()) - timedelta(seconds=older_than)
    _remove_orphans(bulk, prefix, cutoff, report, start_after, on_page)
    return report


def referenced_among(keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` an image row points to: one indexed query for the rows they lie under."""
    keys = set(keys)
    prefixes = {key.rsplit("/", 1)[0] for key in keys}
    rows = Image.objects.filter(key_prefix__in=prefixes).values_list("original_key", "renditions")
    owned = set()
    for original, renditions in rows:
        owned.add(original)
        owned.update(entry.key for entry in renditions.values())
    return keys & owned


def _finish_queue(bulk: BulkOperations, report: SweepReport) -> None:
    # A queued key's transaction has committed, so its row is gone; a key a row still
    # references was queued by mistake and its file is kept.
    last = 0
    while batch := list(
        PendingDeletion.objects.filter(pk__gt=last)
        .order_by("pk")
        .values_list("pk", "key")[: bulk.page_size]
    ):
        last = batch[-1][0]
        keys = [key for _, key in batch]
        referenced = referenced_among(keys)
        report.add("queued_referenced", [key for key in keys if key in referenced])
        todo = [key for key in keys if key not in referenced]
        if report.dry_run:
            report.add("queued_deleted", todo)
            continue
        PendingDeletion.objects.filter(key__in=referenced).delete()
        failed = delete_queued(todo)
        report.add("queued_deleted", [key for key in todo if key not in set(failed)])
        report.add("queued_failed", failed)
        if failed:
            return  # storage refuses: the rest of the queue waits for the next run


def _remove_orphans(bulk, prefix, cutoff, report, start_after, on_page) -> None:
    # Storage is listed before the rows are read: a file listed here whose upload commits
    # meanwhile is then referenced; one whose upload is still running is younger than the cutoff.
    report.last_key = start_after
    try:
        for page in bulk.pages(prefix, start_after):
            _sweep_page(bulk, prefix, page, cutoff, report)
            # Under DEBUG Django keeps the last 9,000 queries; each of ours names a page of
            # 1,000 keys, so a 6-million-object sweep peaked at 432 MiB, mostly query log.
            reset_queries()
            if on_page and on_page(report):
                report.stopped = True
                return
    except Exception as exc:
        report.listing_error = f"{type(exc).__name__}: {exc}"


def _sweep_page(bulk, prefix: str, page: list[Listed], cutoff, report: SweepReport) -> None:
    files = [entry for entry in page if not entry.directory]
    keys = [entry.key for entry in files]
    referenced = referenced_among(keys)
    queued = set(PendingDeletion.objects.filter(key__in=keys).values_list("key", flat=True))
    orphans = [entry for entry in files if entry.key not in referenced and entry.key not in queued]
    old = [entry.key for entry in orphans if entry.modified <= cutoff]
    report.add("orphans_young", [entry.key for entry in orphans if entry.modified > cutoff])
    failed = [] if report.dry_run else bulk.delete(old)
    report.add("orphans_deleted", [key for key in old if key not in set(failed)])
    report.add("orphans_failed", failed)
    empty = [e.key for e in page if e.directory and e.key != prefix and e.modified <= cutoff]
    failed = [] if report.dry_run else bulk.delete(empty)
    report.add("directories_removed", [key for key in empty if key not in set(failed)])
    report.listed += len(page)
    report.pages += 1
    report.last_key = page[-1].key
