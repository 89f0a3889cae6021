"""``manage.py sweep_storage [--older-than SECONDS] [--dry-run]``: finish queued deletions and
remove stored files no image row references. Safe to run from cron at any time."""

from django.core.management.base import BaseCommand, CommandError

from images_app.sweep import DEFAULT_GRACE_SECONDS, SweepReport, sweep_storage


class Command(BaseCommand):
    help = (
        "Delete the files queued for deletion, then the files under IMAGES_APP['KEY_PREFIX'] "
        "that no image references and that are older than the grace period."
    )

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

    def handle(self, *args, older_than: float, dry_run: bool, verbosity: int, **options):
        if older_than < 0:
            raise CommandError("--older-than must be 0 or more seconds.")
        report = sweep_storage(older_than=older_than, dry_run=dry_run)
        self._print(report, verbosity)
        if report.listing_error:
            raise CommandError(f"Could not list the storage: {report.listing_error}")
        if report.failed:
            raise CommandError(
                f"{len(report.failed)} file(s) could not be deleted; they are kept for the next "
                "run. Is the storage reachable?"
            )

    def _print(self, report: SweepReport, verbosity: int) -> None:
        deleted = "would delete" if report.dry_run else "deleted"
        grace, orphans = f"{report.older_than:g} s", len(report.orphans_deleted)
        sections = [
            (
                f"Queued deletions: {len(report.queued_deleted)} {deleted}, "
                f"{len(report.queued_failed)} failed, "
                f"{len(report.queued_referenced)} still referenced (dropped from the queue).",
                [(deleted, report.queued_deleted), ("failed", report.queued_failed)],
            ),
            (
                f"Unreferenced files: not looked for ({report.listing_error})."
                if report.listing_error
                else f"Unreferenced files older than {grace}: {orphans} {deleted}, "
                f"{len(report.orphans_failed)} failed; {len(report.orphans_young)} younger kept.",
                [(deleted, report.orphans_deleted), ("failed", report.orphans_failed)],
            ),
            (
                f"Empty directories: {len(report.directories_removed)} "
                f"{'would be removed' if report.dry_run else 'removed'}.",
                [],
            ),
        ]
        for summary, listings in sections:
            self.stdout.write(summary)
            for verb, keys in listings:
                if verbosity >= 1:
                    for key in keys:
                        self.stdout.write(f"  {verb} {key}")
        if report.dry_run:
            self.stdout.write("Dry run: nothing was changed.")
