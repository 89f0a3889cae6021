"""Celery tasks: re-rendering fanned out to workers (``rerender_images --celery``, the admin),
and the files of a big deletion worked off the queue (``deletion.delete_images``).

``rerender_batch`` re-renders one batch of image ids. It is idempotent: each image is read
afresh and only its stale renditions are redone (``rerender.plan``, by spec fingerprint), so a
batch delivered twice (a worker lost mid-batch, acks_late) or enqueued again by a resumed run
does the work once and then costs one row read per image. Batches are disjoint id ranges, so
two workers never take the same image from one run.

The worker process is the unit of parallelism: a task renders on one thread
(``IMAGES_APP["WORKER_RENDER_THREADS"]``, 1: no encode pool), and each worker process sets
libvips' thread pool to the same when it starts (``worker_process_init``, sent by the prefork
and solo pools), so N worker processes use N cores and two do twice the work of one. Web
processes keep ``RENDER_THREADS`` (2) for an upload's latency.

``delete_queued_files`` deletes the queued files of a deletion too big to finish right after its
commit (more than ``DELETE_INLINE_FILES``), as many again a task, each task queueing the next;
with ``IMAGES_APP["DELETE_ENQUEUE_REST"]`` off the rest waits for ``sweep_storage``.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ImproperlyConfigured

from .conf import app_settings
from .deletion import work_off_queue
from .models import Image
from .rendering import InvalidImage
from .rendering.runtime import set_vips_threads
from .rerender import rerender
from .storage import StorageFailure

try:  # Celery is an optional extra (images_app[celery]): without it, nothing here is queued
    from celery import shared_task
    from celery.result import ResultSet
    from celery.signals import worker_process_init
except ImportError:
    shared_task = ResultSet = worker_process_init = None

logger = logging.getLogger(__name__)


def single_threaded_worker(**kwargs) -> None:
    """In each new worker process: libvips renders on WORKER_RENDER_THREADS threads."""
    threads = app_settings.WORKER_RENDER_THREADS
    vips = "libvips too" if set_vips_threads(threads) else "no libvips"
    logger.info("images_app: this worker process renders on %d thread(s) (%s)", threads, vips)


if worker_process_init is not None:
    worker_process_init.connect(single_threaded_worker, dispatch_uid="images_app.vips_threads")


def run_batch(ids: list[int], only: list[str] | None = None) -> dict:
    """Re-render the images ``ids``; what changed: {"checked", "updated", "failed", "names"}."""
    outcome = {"checked": 0, "updated": 0, "failed": [], "names": {}}
    for image in Image.objects.filter(pk__in=ids).order_by("pk"):
        outcome["checked"] += 1
        try:
            changed = rerender(image, only, threads=app_settings.WORKER_RENDER_THREADS)
        except (StorageFailure, InvalidImage, OSError) as exc:
            logger.warning("images_app: image %s: re-render failed: %s", image.pk, exc)
            outcome["failed"].append(image.pk)
            continue
        if changed:
            outcome["updated"] += 1
            for name in changed:
                outcome["names"][name] = outcome["names"].get(name, 0) + 1
    return outcome


def delete_queued_range(after: int, upto: int, using: str = "default", files: int = 12_000) -> int:
    """Delete the queued files of queue rows ``after`` < pk <= ``upto``, ``files`` of them at
    most (the deleting request's DELETE_INLINE_FILES: twelve DeleteObjects calls on S3 for the
    default), then queue the rest as the next task; return how many went.

    Idempotent: a file goes off the queue as it is deleted, so a task delivered twice (a worker
    lost mid-task: acks_late) finds less or nothing. When storage refuses, the rest stays queued
    for ``sweep_storage``.
    """
    done, last = work_off_queue(after, upto=upto, using=using, budget=files)
    if last is not None:
        delete_queued_files.delay(last, upto, using, files)
    return done


# The tasks the workers run; None where Celery is not installed.
rerender_batch = (
    shared_task(name="images_app.rerender_batch", acks_late=True)(run_batch)
    if shared_task
    else None
)
delete_queued_files = (
    shared_task(name="images_app.delete_queued_files", acks_late=True)(delete_queued_range)
    if shared_task
    else None
)


def require_celery() -> None:
    """Raise ImproperlyConfigured, saying what to install, where Celery is missing."""
    if rerender_batch is None:
        raise ImproperlyConfigured(
            "Queueing re-renders or deletions needs Celery: pip install 'images_app[celery]' "
            "(or celery[redis]), or set IMAGES_APP['RERENDER_ENQUEUE_OVER'] to None and "
            "IMAGES_APP['DELETE_ENQUEUE_REST'] to False."
        )


def enqueue_deletion(after: int, upto: int, using: str) -> None:
    """Queue ``delete_queued_files`` for queue rows ``after`` < pk <= ``upto``, DELETE_INLINE_FILES
    a task; where the broker cannot be reached, log it: the files stay queued for
    ``sweep_storage``."""
    require_celery()
    try:
        delete_queued_files.delay(after, upto, using, app_settings.DELETE_INLINE_FILES)
    except Exception:  # the broker's errors (kombu, redis) have no common base to name
        logger.warning(
            "images_app: could not queue the deletion of queued files %d-%d; they wait for "
            "sweep_storage",
            after + 1,
            upto,
            exc_info=True,
        )
        return
    logger.info("images_app: queued files %d-%d go to a Celery worker", after + 1, upto)


def enqueue_rerender(images, *, batch_size: int = 100) -> int:
    """Queue ``rerender_batch`` for every image of the queryset ``images``; return the batches.

    Ids are read in order a batch at a time, never all at once; the admin's re-render action
    calls it for large selections.
    """
    require_celery()
    batches, last = 0, 0
    while ids := list(
        images.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch_size]
    ):
        rerender_batch.delay(ids)
        batches, last = batches + 1, ids[-1]
    return batches
