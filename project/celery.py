"""Celery for this project: ``celery -A project worker`` runs images_app's tasks.

Configured from Django settings prefixed ``CELERY_`` (``project/settings.py``: the broker from
``CELERY_BROKER_URL``). Without a broker nothing here is used: ``rerender_images`` and the admin
re-render in process, as before. How to run and size workers: docs/operations.md.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
