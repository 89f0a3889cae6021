# The Celery app, so that ``shared_task``s bind to it whenever Django starts (Celery's pattern).
from .celery import app as celery_app

__all__ = ["celery_app"]
