"""``manage.py rerender_images [--dry-run] [--only NAME ...] [--owner ID]``

Brings stored images up to date after IMAGES_APP["RENDITIONS"] changed: redoes the stale
renditions from each stored original and removes the ones that left the spec (see
``images_app.rerender``). One image at a time, in id order, each in its own short transaction,
so it runs beside the live service; Ctrl-C stops after the current image, and a re-run carries on
where the last one stopped (up-to-date images cost one row read).
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError

from images_app.models import Image
from images_app.rendering import InvalidImage
from images_app.rerender import plan, rerender
from images_app.specs import aliases, rendition_specs
from images_app.storage import StorageFailure

BATCH = 200


class Command(BaseCommand):
    help = "Re-render stale renditions and remove renditions that left IMAGES_APP['RENDITIONS']."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would change; change nothing."
        )
        parser.add_argument(
            "--only", nargs="+", metavar="NAME", help="Only these renditions (aliases allowed)."
        )
        parser.add_argument("--owner", type=int, metavar="ID", help="Only this owner's images.")
        parser.add_argument(
            "--progress-every",
            type=float,
            default=5.0,
            metavar="SECONDS",
            help="Print progress this often (default 5; 0: after every image).",
        )

    def handle(self, *args, dry_run, only, owner, progress_every, verbosity, **options):
        self.verbosity = verbosity
        only = self._resolve(only) if only else None
        images = Image.objects.order_by("pk")
        if owner is not None:
            images = images.filter(owner_id=owner)
        self.total = images.count()
        self.counts: Counter[str] = Counter()
        self.names: Counter[str] = Counter()
        self.started = self.last_report = time.monotonic()
        self.stopping = False
        with self._graceful_interrupt():
            for image in _each(images):
                if self.stopping:
                    break
                self._one(image, only, dry_run)
                self._progress(progress_every)
        self._summary(dry_run)

    @contextmanager
    def _graceful_interrupt(self):
        """The first Ctrl-C finishes the current image; signals only reach the main thread."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGINT, self._stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

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

    def _stop(self, signum, frame) -> None:
        if self.stopping:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.stopping = True
        self.stderr.write("Stopping after the current image (Ctrl-C again to stop now)…")


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
