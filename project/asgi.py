import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django_application = get_asgi_application()

from images_app.asgi import BodyLimit  # noqa: E402  (needs the apps loaded)
from project.startup import refuse_on_check_errors  # noqa: E402

refuse_on_check_errors()  # as in wsgi.py
# Bodies counted and timed as they arrive (MAX_REQUEST_BYTES: 413; ASGI_READ_TIMEOUT: 408),
# before Django spools them whole (docs/deployment.md, "Under ASGI").
# Any ASGI server; `python -m project.serve --server uvicorn` is the one shipped and tested.
application = BodyLimit(django_application, timeout=float(os.environ.get("ASGI_READ_TIMEOUT", 10)))
