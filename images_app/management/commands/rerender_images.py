"""``manage.py rerender_images [--dry-run] [--only NAME ...] [--owner ID] [--celery]``

Brings stored images up to date after IMAGES_APP["RENDITIONS"] changed: redoes the stale
renditions from each stored original and removes the ones that left the spec (see
``images_app.rerender``). One image at a time, in id order, each in its own short transaction,
so it runs beside the live service; Ctrl-C stops after the current image, and a re-run carries on
where the last one stopped (up-to-date images cost one row read).

``--celery`` fans the work out to Celery workers instead (``images_app.tasks``): the command
reads the rows in id order, enqueues the stale ones in batches of ``--batch-size`` ids, then
follows the workers' results and prints progress. Batches are disjoint, and a batch run twice
does its work once, so a stopped run is resumed by running it again.
"""

from __future__ import annotations

import time
from collections import Counter

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from images_app.management.stoppable import StoppableCommand
from images_app.models import Image
from images_app.rendering import InvalidImage
from images_app.rerender import plan, rerender
from images_app.specs import aliases, rendition_specs
from images_app.storage import StorageFailure
from images_app.tasks import ResultSet, require_celery, rerender_batch

BATCH = 200


class Command(StoppableCommand):
    help = "Re-render stale renditions and remove renditions that left IMAGES_APP['RENDITIONS']."
    unit = "the current image"

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would change; change nothing."
        )
        parser.add_argument(
            "--only", nargs="+", metavar="NAME", help="Only these renditions (aliases allowed)."
        )
        parser.add_argument("--owner", type=int, metavar="ID", help="Only this owner's images.")
        parser.add_argument(
            "--celery",
            action="store_true",
            help="Enqueue batches for Celery workers (CELERY_BROKER_URL); do not render here.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=100,
            metavar="N",
            help="With --celery: image ids per task (default 100).",
        )
        parser.add_argument(
            "--progress-every",
            type=float,
            default=5.0,
            metavar="SECONDS",
            help="Print progress this often (default 5; 0: after every image).",
        )

    def handle(self, *args, dry_run, only, owner, progress_every, verbosity, **options):
        if options["celery"] and not dry_run:
            try:
                require_celery()
            except ImproperlyConfigured as exc:
                raise CommandError(str(exc)) from exc
            self.fan_out = FanOut(self, options["batch_size"])
        else:
            self.fan_out = None
        self.verbosity = verbosity
        only = self._resolve(only) if only else None
        images = Image.objects.order_by("pk")
        if owner is not None:
            images = images.filter(owner_id=owner)
        self.total = images.count()
        self.counts: Counter[str] = Counter()
        self.names: Counter[str] = Counter()
        self.started = self.last_report = time.monotonic()
        with self.graceful_interrupt():
            for image in _each(images):
                if self.stopping:
                    break
                if self.fan_out:
                    self.fan_out.add(image, only)
                else:
                    self._one(image, only, dry_run)
                self._progress(progress_every)
            if self.fan_out:
                self.fan_out.finish(only, progress_every)
        self._summary(dry_run)

    def _resolve(self, names: list[str]) -> list[str]:
        """Aliases stand for their target; a name not in the spec only removes stored ones."""
        targets = aliases()
        known = {spec.name for spec in rendition_specs()}
        resolved = []
        for name in names:
            name = targets.get(name, name)
            if name not in known:
                self.stderr.write(
                    f"Note: {name!r} is not in IMAGES_APP['RENDITIONS'] ({', '.join(sorted(known))}"
                    "); stored renditions of that name are removed."
                )
            resolved.append(name)
        return resolved

    def _one(self, image: Image, only: list[str] | None, dry_run: bool) -> None:
        self.counts["checked"] += 1
        todo = plan(image, only)
        if not todo:
            return
        if dry_run:
            self.counts["stale"] += 1
            self.names.update(todo.names)
            self._detail(f"image {image.pk}: would redo {_list(todo)}")
            return
        try:
            changed = rerender(image, only)
        except (StorageFailure, InvalidImage, OSError) as exc:
            self.counts["failed"] += 1
            self.stderr.write(f"image {image.pk}: failed: {exc}")
            return
        if changed:
            self.counts["updated"] += 1
            self.names.update(changed)
            self._detail(f"image {image.pk}: {', '.join(changed)}")

    def _detail(self, line: str) -> None:
        if self.verbosity >= 2:
            self.stdout.write(line)

    def _progress(self, every: float) -> None:
        now = time.monotonic()
        if now - self.last_report < every or self.verbosity < 1:
            return
        self.last_report = now
        done, elapsed = self.counts["checked"], now - self.started
        rate = done / elapsed if elapsed else 0.0
        eta = f", about {(self.total - done) / rate:.0f} s left" if rate else ""
        self.stdout.write(
            f"{done}/{self.total} images checked ({100 * done / max(self.total, 1):.0f}%), "
            f"{self.counts['updated']} updated, {self.counts['failed']} failed, "
            f"{rate:.1f}/s{eta}"
        )

    def _summary(self, dry_run: bool) -> None:
        checked = self.counts["checked"]
        names = ", ".join(f"{name}: {count}" for name, count in sorted(self.names.items()))
        if dry_run:
            self.stdout.write(
                f"Dry run: {checked} images checked, {self.counts['stale']} would change"
                + (f" ({names})." if names else ".")
            )
        else:
            self.stdout.write(
                f"{checked} images checked, {self.counts['updated']} updated"
                + (f" ({names})" if names else "")
                + f", {self.counts['failed']} failed."
            )
        if self.stopping:
            raise CommandError(f"Interrupted after {checked} of {self.total}; run again to finish.")
        if self.counts["failed"]:
            raise CommandError(f"{self.counts['failed']} images failed; run again to retry them.")


class FanOut:
    """``--celery``: stale image ids enqueued in batches; the workers' results gathered."""

    def __init__(self, command: Command, batch_size: int):
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        self.command, self.batch_size = command, batch_size
        self.pending: list[int] = []
        self.results = []
        self.queued = self.done = 0

    def add(self, image: Image, only: list[str] | None) -> None:
        self.command.counts["checked"] += 1
        if plan(image, only):  # fresh images are not enqueued at all: a re-run resumes
            self.pending.append(image.pk)
        if len(self.pending) >= self.batch_size:
            self._enqueue(only)

    def finish(self, only: list[str] | None, every: float) -> None:
        self._enqueue(only)
        command = self.command
        command.stdout.write(f"{self.queued} stale images queued in {len(self.results)} batches.")
        command.counts["checked"] = 0  # from here: images the workers checked
        self.every, self.last = every, time.monotonic()
        if not self.results:
            return
        try:
            ResultSet(self.results).join_native(callback=self._done, propagate=False)
        except _StopWaiting:
            command.stderr.write("Stopped waiting; the workers carry on with what is queued.")

    def _enqueue(self, only: list[str] | None) -> None:
        if self.pending:
            self.results.append(rerender_batch.apply_async((self.pending, only)))
            self.queued += len(self.pending)
            self.pending = []

    def _done(self, task_id: str, outcome) -> None:
        command, self.done = self.command, self.done + 1
        if isinstance(outcome, dict):
            command.counts["checked"] += outcome["checked"]
            command.counts["updated"] += outcome["updated"]
            command.counts["failed"] += len(outcome["failed"])
            command.names.update(outcome["names"])
        else:  # the task raised: its whole batch counts as failed
            command.counts["failed"] += self.batch_size
        now = time.monotonic()
        if command.verbosity >= 1 and now - self.last >= self.every:
            self.last = now
            command.stdout.write(
                f"{self.done}/{len(self.results)} batches done by the workers: "
                f"{command.counts['updated']} updated, {command.counts['failed']} failed"
            )
        if command.stopping:
            raise _StopWaiting


class _StopWaiting(Exception):
    pass


def _each(images):
    """Every image, in id order, a batch at a time: no long-lived cursor, and rows are fresh."""
    last = 0
    while True:
        batch = list(images.filter(pk__gt=last)[:BATCH])
        yield from batch
        if len(batch) < BATCH:
            return
        last = batch[-1].pk


def _list(todo) -> str:
    parts = [spec.name for spec in todo.redo]
    parts += [f"remove {name}" for name in todo.drop]
    return ", ".join(parts)
