"""``manage.py sweep_storage [--older-than SECONDS] [--dry-run] [--start-after KEY]``: finish
queued deletions and remove stored files no image row references. Safe to run from cron.

It lists the storage a page (1,000 keys) at a time and prints progress every few seconds with the
last key done; Ctrl-C stops after the current page, and ``--start-after`` that key resumes.
Its cost on S3 is in docs/operations.md: one LIST request per 1,000 objects.
"""

from __future__ import annotations

import time

from django.core.management.base import CommandError

from images_app.management.stoppable import StoppableCommand
from images_app.sweep import DEFAULT_GRACE_SECONDS, SweepReport, sweep_storage

PRINTED = {"queued_deleted", "queued_failed", "orphans_deleted", "orphans_failed"}


class Command(StoppableCommand):
    help = (
        "Delete the files queued for deletion, then the files under IMAGES_APP['KEY_PREFIX'] "
        "that no image references and that are older than the grace period."
    )
    unit = "the current page"

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=float,
            default=DEFAULT_GRACE_SECONDS,
            metavar="SECONDS",
            help=(
                f"Grace period for unreferenced files (default {DEFAULT_GRACE_SECONDS}): younger "
                "ones may belong to an upload in flight. 0 only when nothing is uploading."
            ),
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would be deleted; change nothing."
        )
        parser.add_argument(
            "--start-after",
            default="",
            metavar="KEY",
            help="Resume a stopped sweep: list only the keys after KEY (printed with progress).",
        )
        parser.add_argument(
            "--progress-every",
            type=float,
            default=10.0,
            metavar="SECONDS",
            help="Print progress this often (default 10; 0: after every page).",
        )

    def handle(self, *args, older_than, dry_run, start_after, progress_every, verbosity, **opts):
        if older_than < 0:
            raise CommandError("--older-than must be 0 or more seconds.")
        self.verbosity, self.every, self.dry_run = verbosity, progress_every, dry_run
        self.last_report = time.monotonic()
        with self.graceful_interrupt():
            report = sweep_storage(
                older_than=older_than,
                dry_run=dry_run,
                start_after=start_after,
                on_keys=self._keys,
                on_page=self._page,
            )
        self._print(report)
        self._raise_for(report)

    def _keys(self, outcome: str, keys: list[str]) -> None:
        if self.verbosity < 1 or outcome not in PRINTED:
            return
        verb = "failed" if outcome.endswith("failed") else self._deleted
        for key in keys:
            self.stdout.write(f"  {verb} {key}")

    @property
    def _deleted(self) -> str:
        return "would delete" if self.dry_run else "deleted"

    def _page(self, report: SweepReport) -> bool:
        now = time.monotonic()
        if self.verbosity >= 1 and now - self.last_report >= self.every:
            self.last_report = now
            self.stdout.write(
                f"Listed {report.listed:,} objects ({report.pages:,} pages), "
                f"{report.counts['orphans_deleted']:,} unreferenced {self._deleted}; "
                f"last key {report.last_key}"
            )
        return self.stopping

    def _print(self, report: SweepReport) -> None:
        count, deleted = report.counts, self._deleted
        grace = f"{report.older_than:g} s"
        self.stdout.write(
            f"Queued deletions: {count['queued_deleted']} {deleted}, {count['queued_failed']} "
            f"failed, {count['queued_referenced']} still referenced (dropped from the queue)."
        )
        if report.listing_error:
            self.stdout.write(f"Unreferenced files: not looked for ({report.listing_error}).")
        else:
            self.stdout.write(
                f"Unreferenced files older than {grace}: {count['orphans_deleted']} {deleted}, "
                f"{count['orphans_failed']} failed; {count['orphans_young']} younger kept."
            )
        removed = "would be removed" if report.dry_run else "removed"
        self.stdout.write(f"Empty directories: {count['directories_removed']} {removed}.")
        self.stdout.write(f"Listed {report.listed:,} objects in {report.pages:,} pages.")
        if report.dry_run:
            self.stdout.write("Dry run: nothing was changed.")

    def _raise_for(self, report: SweepReport) -> None:
        if report.stopped:
            raise CommandError(
                f"Stopped after {report.last_key or 'the queue'}; run again with "
                f"--start-after {report.last_key} to carry on."
            )
        if report.listing_error:
            raise CommandError(
                f"Could not list the storage: {report.listing_error}"
                + (f" (resume with --start-after {report.last_key})" if report.last_key else "")
            )
        if report.failed:
            raise CommandError(
                f"{report.failed} file(s) could not be deleted; they are kept for the next "
                "run. Is the storage reachable?"
            )
