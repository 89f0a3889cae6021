"""``manage.py sweep_idempotency_keys``: delete Idempotency-Keys older than IDEMPOTENCY_SECONDS.

Expired keys are already ignored by the API; this keeps the table small. Run it from cron,
e.g. hourly.
"""

from django.core.management.base import BaseCommand

from images_app.idempotency import sweep


class Command(BaseCommand):
    help = "Delete Idempotency-Keys older than IMAGES_APP['IDEMPOTENCY_SECONDS'] (24 h)."

    def handle(self, *args, **options):
        self.stdout.write(f"{sweep()} expired idempotency keys deleted.")
