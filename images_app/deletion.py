"""Where the app's files are deleted: one module, one verb.

Files go in three situations, each with one function here:

- ``delete_files(keys)``: files no row references and none will (an upload or a re-render that
  failed half-way, a row that could not be inserted). Deleted now; what storage refuses is queued.
- ``delete_files_on_commit(keys)``: files whose row is going in the current transaction (an image
  deleted, a rendition replaced). Queued in the same transaction, so the queue and the rows agree
  whatever happens; deleted from storage once it commits, and taken off the queue again.
- ``delete_queued(keys)``: the queue worked off (after commit, and by ``manage.py sweep_storage``).

Storage deletes go in batches through ``bulk.py`` (DeleteObjects, 1,000 keys a request, on S3).

Every way an Image row goes (``delete()``, queryset and admin bulk deletes, a cascade from its
owner) reaches ``on_image_deleted``, a post_delete receiver that ``AppConfig.ready()`` connects
(Wagtail deletes rendition files the same way). The queue, ``PendingDeletion``, lives here too:
it is this module's table. ``models.py`` re-exports it, so this module needs nothing from there
and the upload path can clean up through it without an import circle.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import models, router, transaction

from .bulk import bulk_operations
from .storage import get_storage

logger = logging.getLogger(__name__)


class PendingDeletion(models.Model):
    """A stored file whose row is gone; ``manage.py sweep_storage`` retries what is left."""

    key = models.CharField(max_length=255, unique=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "images_app"

    def __str__(self) -> str:
        return self.key


def delete_files(keys: Iterable[str]) -> None:
    """Delete files that no row references; queue the ones storage would not delete."""
    failed = bulk_operations(get_storage()).delete(keys)
    if failed:
        _queue(failed)


def delete_files_on_commit(keys: Iterable[str], *, using: str | None = None) -> None:
    """Queue ``keys`` in the current transaction; delete them from storage once it commits.

    The queue outlives a storage outage: ``manage.py sweep_storage`` finishes what is left.
    """
    keys = list(keys)
    using = using or router.db_for_write(PendingDeletion)
    _queue(keys, using=using)
    transaction.on_commit(lambda: delete_queued(keys), using=using, robust=True)


def delete_queued(keys: Iterable[str]) -> list[str]:
    """Delete queued keys from storage and from the queue, a batch at a time; return the ones
    still queued (from the first batch storage refused on: the rest are not tried)."""
    keys = list(keys)
    bulk = bulk_operations(get_storage())
    for start in range(0, len(keys), bulk.page_size):
        batch = keys[start : start + bulk.page_size]
        failed = bulk.delete(batch)
        left = set(failed)
        PendingDeletion.objects.filter(key__in=[key for key in batch if key not in left]).delete()
        if failed:
            failed += keys[start + bulk.page_size :]
            logger.warning("images_app: %d file(s) left queued for sweep_storage", len(failed))
            return failed
    return []


def on_image_deleted(sender, instance, using: str, **kwargs) -> None:
    """post_delete of an Image: its files go once the deleting transaction commits."""
    delete_files_on_commit(instance.stored_keys(), using=using)


def _queue(keys: list[str], *, using: str | None = None) -> None:
    PendingDeletion.objects.using(using).bulk_create(
        [PendingDeletion(key=key) for key in keys], ignore_conflicts=True
    )
