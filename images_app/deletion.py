"""Where the app's files are deleted: one module, one verb.

Files go in three situations, each with one function here:

- ``delete_files(keys)``: files no row references and none will (an upload or a re-render that
  failed half-way, a row that could not be inserted). Deleted now; what storage refuses is queued.
- ``delete_files_on_commit(keys)``: files whose row is going in the current transaction (an image
  deleted, a rendition replaced). Queued in the same transaction, so the queue and the rows agree
  whatever happens; deleted from storage once it commits, and taken off the queue again.
- ``delete_queued(keys)``: the queue worked off (after commit, and by ``manage.py sweep_storage``).
- ``delete_images(queryset)``: many rows at once (a user with 50,000 images): files queued and
  rows deleted in batches, no signal per row; the admin's user deletion uses it. After the commit
  ``work_off_queue`` deletes the first ``DELETE_INLINE_FILES``; the rest go to a Celery task
  (``tasks.delete_queued_files``) where ``DELETE_ENQUEUE_REST`` is on, else to ``sweep_storage``.

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

from django.db import connections, models, router, transaction
from django.db.models import QuerySet
from django.utils import timezone

from .bulk import bulk_operations
from .conf import app_settings
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


def delete_images(images: QuerySet, *, batch: int = 1000) -> int:
    """Delete the rows of ``images`` in bounded memory and time; return how many went.

    For an owner with 50,000 images: rows are read ``batch`` ids at a time, their files queued
    with one bulk INSERT a batch and the rows deleted with one DELETE a batch, without loading
    model instances or sending a signal per row (``on_image_deleted`` is what this replaces).
    Once the transaction commits, the files of the first ``DELETE_INLINE_FILES`` keys are
    deleted at once, in batches; the rest are queued for a Celery worker (``DELETE_ENQUEUE_REST``:
    ``tasks.delete_queued_files``) or, without Celery, wait in the queue for ``sweep_storage``.
    """
    using = images.db
    high_water = _queue_high_water(using)
    last, total = 0, 0
    while rows := list(
        images.filter(pk__gt=last)
        .order_by("pk")
        .values_list("pk", "original_key", "renditions")[:batch]
    ):
        last = rows[-1][0]
        keys = [key for _, original, renditions in rows for key in _keys(original, renditions)]
        _queue(keys, using=using)
        # No instance, no signal, no cascade: nothing points at an image row.
        images.model._base_manager.using(using).filter(pk__in=[row[0] for row in rows])._raw_delete(
            using
        )
        total += len(rows)
    if total:
        upto = _queue_high_water(using)
        transaction.on_commit(
            lambda: _after_delete_images(high_water, upto, using), using=using, robust=True
        )
    return total


def _keys(original: str, renditions: dict) -> list[str]:
    return [original, *(rendition.key for rendition in renditions.values())]


def _queue_high_water(using: str) -> int:
    last = PendingDeletion.objects.using(using).order_by("-pk").values_list("pk", flat=True)
    return last.first() or 0


def _after_delete_images(after: int, upto: int, using: str) -> None:
    """The files of ``delete_images``' queue rows (``after`` < pk <= ``upto``): the first
    DELETE_INLINE_FILES now, the rest by a Celery task or ``sweep_storage``."""
    budget = app_settings.DELETE_INLINE_FILES
    _, last = work_off_queue(after, upto=upto, using=using, budget=budget)
    if last is None:
        return
    if app_settings.DELETE_ENQUEUE_REST:
        from .tasks import enqueue_deletion  # tasks imports the models, which import this

        enqueue_deletion(last, upto, using)
    else:
        logger.info("images_app: files past %d left queued for sweep_storage", budget)


def work_off_queue(
    after: int, *, using: str, budget: int, upto: int | None = None
) -> tuple[int, int | None]:
    """Delete the files of queue rows ``after`` < pk (<= ``upto``), at most ``budget``, 1,000
    a batch. Return how many went, and the pk to go on after when the budget ran out with rows
    left (else None: done, or storage refuses and ``sweep_storage`` finishes the job)."""
    queue = PendingDeletion.objects.using(using).order_by("pk")
    if upto is not None:
        queue = queue.filter(pk__lte=upto)
    done = 0
    while done < budget:
        rows = list(queue.filter(pk__gt=after).values_list("pk", "key")[: min(budget - done, 1000)])
        if not rows:
            return done, None
        after = rows[-1][0]
        failed = delete_queued([key for _, key in rows])
        done += len(rows) - len(failed)
        if failed:
            return done, None
    return done, (after if queue.filter(pk__gt=after).exists() else None)


def on_image_deleted(sender, instance, using: str, **kwargs) -> None:
    """post_delete of an Image: its files go once the deleting transaction commits."""
    delete_files_on_commit(instance.stored_keys(), using=using)


def _queue(keys: list[str], *, using: str | None = None) -> None:
    using = using or router.db_for_write(PendingDeletion)
    connection = connections[using]
    if connection.vendor not in ("postgresql", "sqlite"):
        PendingDeletion.objects.using(using).bulk_create(
            [PendingDeletion(key=key) for key in keys], ignore_conflicts=True
        )
        return
    # One prepared INSERT run for every key: a user's 300,000 keys through bulk_create spend
    # most of their time compiling SQL row by row. Both databases read ON CONFLICT DO NOTHING.
    quote, opts = connection.ops.quote_name, PendingDeletion._meta
    columns = ", ".join(quote(opts.get_field(name).column) for name in ("key", "created"))
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    sql = f"INSERT INTO {quote(opts.db_table)} ({columns}) VALUES (%s, %s) ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(key, now) for key in keys])
